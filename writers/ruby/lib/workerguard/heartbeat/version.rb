# frozen_string_literal: true

# The one place the writer's version is written: the gemspec and the library both read it.
module Workerguard
  VERSION = "1.1.0"
end
