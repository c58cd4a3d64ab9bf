# frozen_string_literal: true

# A Sidekiq app with two jobs, and workerguard's heartbeat writer installed.
require "sidekiq"
require "workerguard/heartbeat"

Workerguard::Sidekiq.install

class SleepJob
  include Sidekiq::Worker # Sidekiq::Job in 7.x; Worker remains an alias

  def perform(seconds)
    sleep seconds
  end
end

class HangJob
  include Sidekiq::Worker

  def perform
    Queue.new.pop # blocks forever, as a deadlocked job does
  end
end
