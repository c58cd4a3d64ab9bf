# frozen_string_literal: true

require "minitest/autorun"
require "tmpdir"
require "workerguard/heartbeat"

class HeartbeatTest < Minitest::Test
  def setup
    @dir = Dir.mktmpdir
    @now = 1_800_000_000.0
    @running = []
    @check_error = nil
    @heartbeat = Workerguard::Heartbeat.new(
      path: File.join(@dir, "heartbeat"), interval: 1, stuck_after: 60, running_since: -> { @running },
      check: -> { raise @check_error if @check_error }, logger: nil, clock: -> { @now }
    )
    def @heartbeat.warn(*) = nil # quiet
  end

  def teardown
    FileUtils.rm_rf(@dir)
  end

  def beat_value = File.read(File.join(@dir, "heartbeat"))

  def test_a_beat_is_unix_seconds_with_nothing_left_behind
    @heartbeat.send(:run_check)
    @heartbeat.beat
    assert_equal "1800000000", beat_value
    assert_equal ["heartbeat"], Dir.children(@dir)
  end

  def test_a_stuck_job_stops_the_beat_and_its_end_resumes_it
    @running = [@now]
    @now += 60
    @heartbeat.beat
    @now += 1
    @heartbeat.beat
    assert_equal 1, @heartbeat.stuck_jobs
    assert_equal "1800000060", beat_value
    @running = []
    @heartbeat.beat
    assert_equal "1800000061", beat_value
  end

  def test_a_failing_or_silent_check_marks_not_ready_but_keeps_beating
    @check_error = StandardError.new("redis refused")
    @heartbeat.send(:run_check)
    @heartbeat.beat
    assert_includes File.read(File.join(@dir, "not-ready")), "redis refused"
    assert_equal "1800000000", beat_value
    @check_error = nil
    @heartbeat.send(:run_check)
    @heartbeat.beat
    refute File.exist?(File.join(@dir, "not-ready"))
    @now += Workerguard::CHECK_STALE_BEATS + 1
    @heartbeat.beat
    assert_equal "the dependency check has not answered", File.read(File.join(@dir, "not-ready"))
  end

  def test_a_failed_write_is_survived
    heartbeat = Workerguard::Heartbeat.new(path: File.join(@dir, "missing", "heartbeat"), clock: -> { @now }, logger: nil)
    def heartbeat.warn(*) = nil
    heartbeat.beat
    Dir.mkdir(File.join(@dir, "missing"))
    heartbeat.beat
    assert_equal "1800000000", File.read(File.join(@dir, "missing", "heartbeat"))
  end

  def test_settings_come_from_the_env
    heartbeat = Workerguard::Heartbeat.from_env(
      { "WORKERGUARD_HEARTBEAT_FILE" => "/run/hb", "WORKERGUARD_BEAT_INTERVAL" => "2", "WORKERGUARD_STUCK_AFTER" => "off" }
    )
    assert_equal ["/run/hb", 2.0, nil], [heartbeat.path, heartbeat.interval, heartbeat.stuck_after]
  end

  # Debian's Sidekiq 6.4 names its work set WORKER_STATE; 6.5 and later (7.x, 8.x) WORK_STATE, same shape.
  def test_sidekiqs_work_set_is_read_under_either_name
    require "sidekiq"
    require "sidekiq/processor"
    Sidekiq::Processor::WORKER_STATE.set("t1", { queue: "q", payload: "{}", run_at: 1_700_000_000 })
    assert_equal [1_700_000_000.0], Workerguard::Sidekiq.running_since
    newer = Sidekiq::Processor::SharedWorkerState.new
    newer.set("t2", { queue: "q", payload: "{}", run_at: 1_700_000_100 })
    Sidekiq::Processor.const_set(:WORK_STATE, newer)
    assert_equal [1_700_000_100.0], Workerguard::Sidekiq.running_since
  ensure
    Sidekiq::Processor::WORKER_STATE.clear
    Sidekiq::Processor.send(:remove_const, :WORK_STATE) if defined?(Sidekiq::Processor::WORK_STATE)
  end
end
