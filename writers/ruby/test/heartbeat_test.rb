# frozen_string_literal: true

# Run: ruby writers/ruby/test/heartbeat_test.rb (the lib directory is put on the load path here).
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))

require "minitest/autorun"
require "json"
require "logger"
require "stringio"
require "tmpdir"
require "workerguard/heartbeat"

CONTRACT = JSON.parse(File.read(File.expand_path("../../contract.json", __dir__)))

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

  def test_start_creates_the_heartbeat_directory_with_its_parents
    path = File.join(@dir, "var", "run", "workerguard", "heartbeat")
    heartbeat = Workerguard::Heartbeat.new(path: path, interval: 60, clock: -> { @now }, logger: Logger.new(nil))
    heartbeat.start
    assert_equal "1800000000", File.read(path)
  ensure
    heartbeat&.stop
  end

  def exited_path = File.join(@dir, Workerguard::EXITED)

  def started_heartbeat(log = StringIO.new)
    heartbeat = Workerguard::Heartbeat.new(path: File.join(@dir, "heartbeat"), interval: 60, running_since: -> { @running },
                                           clock: -> { @now }, logger: Logger.new(log))
    heartbeat.start
  end

  def test_stop_writes_the_exited_marker_with_the_time_after_the_last_beat
    heartbeat = started_heartbeat
    @now += 5
    heartbeat.stop
    assert_equal "1800000005", File.read(exited_path)
    @now += 1
    heartbeat.beat
    heartbeat.stop
    assert_equal "1800000000", beat_value, "a beat after the exited marker"
    assert_equal "1800000005", File.read(exited_path), "a second stop rewrote the marker"
    assert_equal %w[exited heartbeat], Dir.children(@dir).sort
  end

  def test_no_exited_marker_without_start_or_while_a_job_still_runs
    @heartbeat.stop
    refute File.exist?(exited_path), "a writer that never started wrote the marker"
    log = StringIO.new
    heartbeat = started_heartbeat(log)
    @running = [@now] # Sidekiq still draining: the job is in its work set
    heartbeat.stop
    refute File.exist?(exited_path), "the marker was written while a job ran"
    assert_includes log.string, "1 job(s) still running"
    @running = []
    @now += 3
    heartbeat.stop
    assert_equal "1800000003", File.read(exited_path)
  end

  def test_a_forked_child_never_writes_the_exited_marker
    heartbeat = started_heartbeat
    child = fork do
      heartbeat.stop
      exit!(0) # skips minitest's own at_exit in the child
    end
    _, status = Process.wait2(child)
    assert status.success?
    refute File.exist?(exited_path), "at_exit in a forked child wrote the marker"
  ensure
    heartbeat&.stop
  end

  def test_start_and_every_beat_remove_a_previous_containers_exited_marker
    File.write(exited_path, "1700000000")
    seen_by_first_check = []
    heartbeat = Workerguard::Heartbeat.new(path: File.join(@dir, "heartbeat"), interval: 60, clock: -> { @now },
                                           check: -> { seen_by_first_check << File.exist?(exited_path) },
                                           logger: Logger.new(nil))
    heartbeat.start
    assert_equal [false], seen_by_first_check, "still there for a first check that may hang on Redis"
    refute File.exist?(exited_path)
    assert_equal "1800000000", beat_value
    File.write(exited_path, "1700000000")
    heartbeat.beat
    refute File.exist?(exited_path)
  ensure
    heartbeat&.stop
  end

  def test_an_exited_marker_that_cannot_be_removed_is_logged_retried_and_never_stops_the_beat
    FileUtils.mkdir_p(File.join(exited_path, "inside")) # unlink fails on a directory, as on a read-only volume
    log = StringIO.new
    heartbeat = started_heartbeat(log)
    assert_equal "1800000000", beat_value
    assert_includes log.string, "exited"
    @now += 1
    heartbeat.beat
    assert_equal "1800000001", beat_value, "the failed removal cost the beat"
    FileUtils.rm_rf(exited_path)
    File.write(exited_path, "")
    heartbeat.beat
    refute File.exist?(exited_path), "the next beat did not try again"
  ensure
    heartbeat&.stop
  end

  def test_settings_come_from_the_env
    heartbeat = Workerguard::Heartbeat.from_env(
      { "WORKERGUARD_HEARTBEAT_FILE" => "/run/hb", "WORKERGUARD_BEAT_INTERVAL" => "2", "WORKERGUARD_STUCK_AFTER" => "off" }
    )
    assert_equal ["/run/hb", 2.0, nil], [heartbeat.path, heartbeat.interval, heartbeat.stuck_after]
  end

  def test_the_constants_are_the_contracts
    assert_equal CONTRACT["env"], { "heartbeat_file" => Workerguard::HEARTBEAT_FILE_ENV,
                                    "beat_interval" => Workerguard::BEAT_INTERVAL_ENV,
                                    "stuck_after" => Workerguard::STUCK_AFTER_ENV }
    assert_equal CONTRACT["defaults"]["heartbeat_file"], Workerguard::DEFAULT_PATH
    assert_equal CONTRACT["defaults"]["beat_interval"], Workerguard::DEFAULT_INTERVAL
    assert_equal CONTRACT["defaults"]["stuck_after"], Workerguard::DEFAULT_STUCK_AFTER
    assert_equal CONTRACT["markers"], { "not_ready" => Workerguard::NOT_READY, "draining" => Workerguard::DRAINING,
                                        "exited" => Workerguard::EXITED }
    assert_equal CONTRACT["check_stale_beats"], Workerguard::CHECK_STALE_BEATS
    assert_equal CONTRACT["max_seconds"], Workerguard::MAX_SECONDS
  end

  # Every "parse" row of writers/contract.json: value null is unset; a bad value refuses to start,
  # with an ArgumentError that names the variable and the value.
  def test_every_parse_row_of_the_contract
    attribute = { "WORKERGUARD_BEAT_INTERVAL" => :interval, "WORKERGUARD_STUCK_AFTER" => :stuck_after,
                  "WORKERGUARD_HEARTBEAT_FILE" => :path }
    rows = CONTRACT.fetch("parse")
    assert_operator rows.size, :>, 0
    rows.each do |row|
      env = row["value"].nil? ? {} : { row["env"] => row["value"] }
      label = "#{row['env']}=#{row['value'].inspect}"
      if row["error"]
        error = assert_raises(ArgumentError, label) { Workerguard::Heartbeat.from_env(env) }
        assert_includes error.message, row["env"], label
        assert_includes error.message, row["value"].inspect, label
      else
        expected = row.key?("path") ? row["path"] : row["seconds"]
        expected = nil if expected == "off"
        actual = Workerguard::Heartbeat.from_env(env).public_send(attribute.fetch(row["env"]))
        expected.nil? ? assert_nil(actual, label) : assert_equal(expected, actual, label)
      end
    end
  end

  # Real Sidekiq (Debian's is 6.4.1). Its work set is WORKER_STATE up to 6.4 and WORK_STATE from 6.5
  # (7.x, 8.x): the test uses whichever name the installed Sidekiq has, so it runs on all of them.
  def sidekiq_work_set
    require "sidekiq"
    require "sidekiq/processor"
    name = Workerguard::Sidekiq::WORK_SET_NAMES.find { |candidate| ::Sidekiq::Processor.const_defined?(candidate, false) }
    flunk "Sidekiq #{::Sidekiq::VERSION} has no work set under a known name" if name.nil?
    [name, ::Sidekiq::Processor.const_get(name, false)]
  end

  def sidekiq_heartbeat(log)
    Workerguard::Heartbeat.new(path: File.join(@dir, "sk", "heartbeat"), interval: 60, stuck_after: 60,
                               clock: -> { @now }, logger: Logger.new(log))
  end

  def test_sidekiqs_work_set_gives_the_running_jobs_start_times
    _name, state = sidekiq_work_set
    state.set("t1", { queue: "q", payload: "{}", run_at: 1_700_000_000 })
    assert_same state, Workerguard::Sidekiq.work_state
    assert_equal [1_700_000_000.0], Workerguard::Sidekiq.running_since
    log = StringIO.new
    heartbeat = Workerguard::Sidekiq.watch_work_set(sidekiq_heartbeat(log), Logger.new(log))
    @now = 1_700_000_061.0
    assert_equal 1, heartbeat.stuck_jobs
    assert_equal 60, heartbeat.stuck_after
    refute_includes log.string, "STUCK DETECTION IS OFF"
  ensure
    state&.clear
  end

  # Both names at once: WORK_STATE (6.5 and later) wins. Whichever the installed Sidekiq lacks is added
  # for the test, as another instance of its own work-set class.
  def test_the_newer_name_of_the_work_set_is_preferred
    name, state = sidekiq_work_set
    other = (Workerguard::Sidekiq::WORK_SET_NAMES - [name]).first
    ::Sidekiq::Processor.const_set(other, state.class.new)
    newer = ::Sidekiq::Processor::WORK_STATE
    newer.set("t2", { queue: "q", payload: "{}", run_at: 1_700_000_100 })
    assert_same newer, Workerguard::Sidekiq.work_state
    assert_equal [1_700_000_100.0], Workerguard::Sidekiq.running_since
  ensure
    state&.clear
    ::Sidekiq::Processor.send(:remove_const, other) if other
  end

  def test_without_a_known_work_set_stuck_detection_is_off_and_says_so_once
    name, state = sidekiq_work_set
    ::Sidekiq::Processor.send(:remove_const, name) # a Sidekiq that keeps its work set elsewhere
    assert_nil Workerguard::Sidekiq.work_state
    log = StringIO.new
    heartbeat = sidekiq_heartbeat(log)
    Workerguard::Sidekiq.startup(heartbeat, Logger.new(log))
    heartbeat.beat
    lines = log.string.lines.grep(/STUCK DETECTION IS OFF/)
    assert_equal 1, lines.size, log.string
    assert_includes lines.first, "Sidekiq #{::Sidekiq::VERSION} "
    assert_includes lines.first, "ERROR"
    assert_nil heartbeat.stuck_after
    assert_equal 0, heartbeat.stuck_jobs
    assert_equal "1800000000", File.read(heartbeat.path)
  ensure
    heartbeat&.stop
    ::Sidekiq::Processor.const_set(name, state) if name && !::Sidekiq::Processor.const_defined?(name, false)
  end
end
