# frozen_string_literal: true

# The version has one home, lib/workerguard/heartbeat/version.rb: read here without loading the writer.
require_relative "lib/workerguard/heartbeat/version"

Gem::Specification.new do |spec|
  spec.name = "workerguard-heartbeat"
  spec.version = Workerguard::VERSION
  spec.summary = "workerguard's heartbeat writer for Ruby and Sidekiq workers"
  spec.description = "Writes the heartbeat file that workerguard's Kubernetes probes judge: a beat every interval " \
                     "from a thread of its own, none while a job is stuck, a not-ready marker while Redis is down. " \
                     "Standard library only; Workerguard::Sidekiq (Sidekiq 6.4, 7.x, 8.x) loads only when used."
  spec.authors = ["workerguard"]
  spec.license = "Apache-2.0"
  spec.files = Dir["lib/**/*.rb"] + ["README.md"]
  spec.require_paths = ["lib"]
  spec.required_ruby_version = ">= 2.7"
  # No runtime dependency: Sidekiq is the application's, and only Workerguard::Sidekiq needs it.
end
