# frozen_string_literal: true

require "sidekiq"
require "workerguard/heartbeat"

module Workerguard
  # The Sidekiq integration, loaded (by autoload) only when Workerguard::Sidekiq is first used. Stuck
  # jobs are read from Sidekiq's own work set (what the process is running, with when each job
  # started), and Redis is checked with a PING. It uses only configure_server, the :startup event
  # (every version has it), Sidekiq.redis and the work set.
  module Sidekiq
    # Where each Sidekiq keeps its work set, newest first; the same shape under both names
    # ({tid => {queue:, payload:, run_at: unix seconds}}).
    #   6.5, 7.x, 8.x: Sidekiq::Processor::WORK_STATE
    #   up to 6.4:     Sidekiq::Processor::WORKER_STATE
    WORK_SET_NAMES = %i[WORK_STATE WORKER_STATE].freeze

    # Sidekiq's work set, or nil when this Sidekiq keeps it under no name this writer knows.
    def self.work_state
      begin
        require "sidekiq/processor" # the server has loaded it by :startup; anything else may not have
      rescue LoadError
        return nil
      end
      return nil unless defined?(::Sidekiq::Processor)

      WORK_SET_NAMES.each do |name|
        next unless ::Sidekiq::Processor.const_defined?(name, false)

        state = ::Sidekiq::Processor.const_get(name, false)
        return state if state.respond_to?(:dup)
      end
      nil
    end

    # The start times (unix seconds, Float) of the jobs in a work set.
    def self.running_since(state = work_state)
      return [] if state.nil?

      state.dup.values.map do |work|
        started = (work[:run_at] || work["run_at"]).to_f
        started > 100_000_000_000 ? started / 1000 : started # milliseconds, should a Sidekiq switch to them
      end
    end

    def self.sidekiq_version
      defined?(::Sidekiq::VERSION) ? ::Sidekiq::VERSION : "(unknown version)"
    end

    # Point the heartbeat at Sidekiq's work set. When there is none it says so, loudly and once, naming
    # the Sidekiq version, and only then turns stuck detection off: never silently.
    def self.watch_work_set(heartbeat, logger)
      return heartbeat if heartbeat.stuck_after.nil? # WORKERGUARD_STUCK_AFTER=off: nothing to watch

      state = work_state
      if state.nil?
        logger.error("workerguard: STUCK DETECTION IS OFF: Sidekiq #{sidekiq_version} has no work set " \
                     "under a name this writer knows (Sidekiq::Processor::#{WORK_SET_NAMES.join(' or ')}), " \
                     "so a stuck job will not stop the heartbeat; a dead or hung process still fails liveness")
        heartbeat.stuck_after = nil
      else
        heartbeat.running_since = -> { running_since(state) }
      end
      heartbeat
    end

    def self.redis_ping
      ::Sidekiq.redis { |connection| connection.ping }
    end

    # What the :startup event runs: find the work set (Sidekiq's processor is loaded by then), then beat.
    def self.startup(heartbeat, logger)
      watch_work_set(heartbeat, logger).start
    end

    def self.install(env = ENV)
      logger = ::Sidekiq.logger
      heartbeat = Heartbeat.from_env(env, check: -> { redis_ping }, logger: logger)
      ::Sidekiq.configure_server do |config|
        config.on(:startup) { startup(heartbeat, logger) }
        # :quiet and :shutdown come before running jobs finish: keep beating until the process exits.
      end
      at_exit { heartbeat.stop }
      heartbeat
    end
  end
end
