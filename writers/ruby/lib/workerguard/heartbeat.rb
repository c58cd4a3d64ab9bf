# frozen_string_literal: true

require "fileutils"
require "workerguard/heartbeat/version"

# workerguard heartbeat writer for Ruby workers: the signal that workerguard's probes judge.
#
# Standard library only; the Sidekiq integration (workerguard/heartbeat/sidekiq) is loaded only when
# Workerguard::Sidekiq is first used, and uses Sidekiq itself. One beat every
# $WORKERGUARD_BEAT_INTERVAL seconds from a thread of its own, so a long job keeps beating; no beat
# while any job has run longer than $WORKERGUARD_STUCK_AFTER, so a wedged worker stops beating and
# liveness restarts it. A dependency check that fails or hangs writes the not-ready marker next to
# the heartbeat: readiness fails, liveness does not. The final stop, once the process has finished its
# jobs, writes the exited marker that the sidecars' preStop waits for. The env values follow writers/contract.json: a
# bad value refuses to start (ArgumentError naming the variable and the value).
#
#   require "workerguard/heartbeat"
#   Workerguard::Sidekiq.install   # in the file Sidekiq loads (-r), Sidekiq 6.4, 7.x and 8.x
module Workerguard
  HEARTBEAT_FILE_ENV = "WORKERGUARD_HEARTBEAT_FILE"
  BEAT_INTERVAL_ENV = "WORKERGUARD_BEAT_INTERVAL"
  STUCK_AFTER_ENV = "WORKERGUARD_STUCK_AFTER"
  DEFAULT_PATH = "/var/run/workerguard/heartbeat"
  DEFAULT_INTERVAL = 10.0
  DEFAULT_STUCK_AFTER = 1800.0
  MAX_SECONDS = 31_536_000.0
  NOT_READY = "not-ready"
  DRAINING = "draining"
  EXITED = "exited"
  # A dependency check that has not finished for this many beats counts as failed (a hung Redis).
  CHECK_STALE_BEATS = 3
  NUMBER = /\A[0-9]+(\.[0-9]+)?\z/.freeze

  autoload :Sidekiq, "workerguard/heartbeat/sidekiq"

  # Unset or blank: the default; "off" (where allowed): nil; else decimal seconds in (0, MAX_SECONDS].
  # Anything else raises ArgumentError naming the variable and the value: the writer refuses to start.
  def self.seconds(name, text, default, allow_off: false)
    return default if text.nil? || text.strip.empty?

    word = text.strip
    return nil if allow_off && word == "off"

    if NUMBER.match?(word)
      value = Float(word)
      return value if value.positive? && value <= MAX_SECONDS
    end
    expected = allow_off ? "'off' or " : ""
    raise ArgumentError, "#{name}=#{text.inspect}: expected #{expected}a number of seconds above 0 and at most #{MAX_SECONDS.to_i}"
  end

  def self.heartbeat_path(text)
    return DEFAULT_PATH if text.nil? || text.empty?
    unless text.start_with?("/") && !text.delete("/").empty?
      raise ArgumentError, "#{HEARTBEAT_FILE_ENV}=#{text.inspect}: expected an absolute path of a file inside a directory"
    end

    text
  end

  class Heartbeat
    attr_reader :path, :interval, :stuck_after
    # Set before start: Workerguard::Sidekiq does, once it knows where Sidekiq keeps its work set.
    attr_writer :running_since, :stuck_after

    # running_since: a callable giving the wall-clock start times (Float seconds) of running jobs.
    # check: a callable that returns when the dependency is usable and raises when it is not.
    def initialize(path: DEFAULT_PATH, interval: DEFAULT_INTERVAL, stuck_after: DEFAULT_STUCK_AFTER,
                   running_since: -> { [] }, check: nil, logger: nil, clock: -> { Time.now.to_f })
      @path = path
      @interval = interval
      @stuck_after = stuck_after
      @running_since = running_since
      @check = check
      @logger = logger
      @clock = clock
      @stop = false
      @writing = Mutex.new # held by a beat and by stop: no beat after the exited marker
      @beating_pid = nil # the process that started beating, until it writes the exited marker
      @threads = []
      @checked_at = nil
      @check_error = "not checked yet"
      @reported = :none
    end

    def self.from_env(env = ENV, **options)
      new(path: Workerguard.heartbeat_path(env[HEARTBEAT_FILE_ENV]),
          interval: Workerguard.seconds(BEAT_INTERVAL_ENV, env[BEAT_INTERVAL_ENV], DEFAULT_INTERVAL),
          stuck_after: Workerguard.seconds(STUCK_AFTER_ENV, env[STUCK_AFTER_ENV], DEFAULT_STUCK_AFTER, allow_off: true),
          **options)
    end

    # Clear what a previous container left, beat once, then beat from a thread of its own. Once
    # stopped, it does nothing.
    def start
      return self if @stop

      @beating_pid = Process.pid
      dir = File.dirname(@path)
      FileUtils.mkdir_p(dir) # with its parents: a missing /var/run/workerguard must not stop the boot
      [DRAINING, NOT_READY].each { |name| remove(File.join(dir, name)) }
      clear_exited
      if @check
        run_check
        @threads << every_interval { run_check }
      end
      beat
      @threads << every_interval { beat }
      self
    end

    # The final stop, for when the process is finishing after its last job: no beat after it, then the
    # exited marker (unix seconds) next to the heartbeat, which the sidecars' preStop waits for. Only
    # the process that started beating writes it (at_exit runs in forked children too), once, and
    # never while a job still runs: a later stop writes it once they have finished. The last beat
    # stays and ages out.
    def stop
      @stop = true
      @threads.each { |thread| thread.wakeup if thread.alive? }
      @threads.each { |thread| thread.join(@interval + 1) unless thread == Thread.current }
      @writing.synchronize do
        return unless @beating_pid == Process.pid

        running = @running_since.call.size
        if running.positive?
          log(:warn, "workerguard: stopped beating with #{running} job(s) still running: no exited marker yet, " \
                     "so the sidecars wait for the heartbeat to go stale")
          return
        end
        @beating_pid = nil
        exited = File.join(File.dirname(@path), EXITED)
        write(exited, @clock.call.to_i.to_s)
        log(:info, "workerguard: stopped beating; wrote #{exited}")
      end
    rescue StandardError => e
      log(:warn, "workerguard: could not write the exited marker: #{e.class}: #{e.message}")
    end

    def stuck_jobs
      return 0 if @stuck_after.nil?

      now = @clock.call
      @running_since.call.count { |started| now - started > @stuck_after }
    end

    # One beat: the heartbeat unless a job is stuck, and the not-ready marker as the check says.
    # Never raises: a writer that dies on one full disk would stop beating for good. After stop it
    # writes nothing.
    def beat
      @writing.synchronize do
        next if @stop

        clear_exited
        beat_files
      end
    end

    private

    # A previous container's exited marker must never make this one's deletion look finished. Run at
    # start and again at every beat, so a removal that failed is tried again, as a write is.
    def clear_exited
      remove(File.join(File.dirname(@path), EXITED))
    rescue StandardError => e
      log(:warn, "workerguard heartbeat failed: #{e.class}: #{e.message}")
    end

    def beat_files
      stuck = stuck_jobs
      if stuck.positive?
        report("#{stuck} job(s) running longer than #{@stuck_after}s: not beating, so liveness restarts")
      else
        write(@path, @clock.call.to_i.to_s)
        report(nil)
      end
      reason = not_ready_reason
      marker = File.join(File.dirname(@path), NOT_READY)
      reason.nil? ? remove(marker) : write(marker, reason)
    rescue StandardError => e
      log(:warn, "workerguard heartbeat failed: #{e.class}: #{e.message}")
    end

    def every_interval
      Thread.new do
        until @stop
          sleep @interval
          yield unless @stop
        end
      end
    end

    def not_ready_reason
      return nil if @check.nil?
      return "the dependency check has not answered" if @checked_at.nil? || @clock.call - @checked_at > CHECK_STALE_BEATS * @interval

      @check_error
    end

    def run_check
      @check.call
      error = nil
    rescue StandardError => e
      error = "dependency check failed: #{e.class}: #{e.message}"[0, 200]
    ensure
      @check_error = error
      @checked_at = @clock.call
    end

    # Atomically: a temporary file in the same directory, then rename, so no probe reads half of it.
    def write(target, text)
      temporary = File.join(File.dirname(target), ".#{File.basename(target)}.#{Process.pid}.#{Thread.current.object_id}.tmp")
      File.write(temporary, text)
      File.rename(temporary, target)
    ensure
      remove(temporary) if temporary
    end

    def remove(file)
      File.unlink(file)
    rescue Errno::ENOENT
      nil
    end

    def report(problem)
      return if problem == @reported

      log(problem ? :warn : :info, "workerguard: #{problem || 'beating'}")
      @reported = problem
    end

    def log(level, message)
      @logger ? @logger.public_send(level, message) : warn(message)
    end
  end
end
