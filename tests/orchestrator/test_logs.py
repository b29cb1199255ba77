"""Log lines an operator can use: a level and a format for every command, JSON one object per line."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys

import pytest

from orchestrator.interfaces import logs
from orchestrator.interfaces.cli import parser


@pytest.fixture
def restore_logging(monkeypatch):
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    for name in (logs.ENV_LEVEL, logs.ENV_FORMAT):
        monkeypatch.delenv(name, raising=False)
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


def record(message="chunk %s failed", *args, **extra) -> logging.LogRecord:
    rec = logging.LogRecord("orchestrator.coordinator.effects", logging.WARNING, __file__, 1, message, args or ("c1",), None)
    rec.__dict__.update(extra)
    return rec


def test_a_json_line_is_one_object_with_time_level_logger_message_and_where():
    line = logs.JsonFormatter().format(record(sequence="demo:sq010", shot="sh010", chunk="sh010/v1/c000"))
    doc = json.loads(line)
    assert "\n" not in line
    assert doc.pop("time").endswith("Z")
    assert doc == {
        "level": "warning", "logger": "orchestrator.coordinator.effects", "message": "chunk c1 failed",
        "sequence": "demo:sq010", "shot": "sh010", "chunk": "sh010/v1/c000",
    }


def test_a_json_line_leaves_out_what_it_is_not_about():
    assert set(json.loads(logs.JsonFormatter().format(record()))) == {"time", "level", "logger", "message"}


def test_a_traceback_stays_inside_its_json_line():
    try:
        raise ValueError("bad\nworse")
    except ValueError:
        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = logs.JsonFormatter().format(rec)
    assert "\n" not in line and "ValueError: bad\nworse" in json.loads(line)["exception"]


def test_a_text_line_names_level_logger_and_where():
    line = logs.TextFormatter().format(record(sequence="demo:sq010", chunk="sh010/v1/c000"))
    assert line.endswith("WARNING orchestrator.coordinator.effects: chunk c1 failed  sequence=demo:sq010  chunk=sh010/v1/c000")


def test_configure_sets_the_level_and_tells_the_workers_through_the_environment(restore_logging):
    stream = io.StringIO()
    logs.configure("info", "json", stream)
    logging.getLogger("orchestrator.test").debug("hidden")
    logging.getLogger("orchestrator.test").info("shown", extra={"sequence": "demo:sq010"})
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["sequence"] == "demo:sq010"
    assert logs.runtime_env() == {
        "env_vars": {logs.ENV_LEVEL: "info", logs.ENV_FORMAT: "json", **logs.QUIET_RAY}, "worker_process_setup_hook": logs.WORKER_HOOK,
    }


def test_configuring_again_replaces_its_own_handler_and_keeps_the_hosts(restore_logging):
    host = logging.NullHandler()
    logging.getLogger().addHandler(host)
    logs.configure("info", "text", io.StringIO())
    logs.configure("error", "json", io.StringIO())
    ours = [h for h in logging.getLogger().handlers if isinstance(h.formatter, (logs.JsonFormatter, logs.TextFormatter))]
    assert len(ours) == 1 and host in logging.getLogger().handlers
    logging.getLogger().removeHandler(host)


def test_lines_go_to_the_stderr_of_the_moment_never_to_a_closed_one(restore_logging):
    logs.configure("info", "json")
    first, second = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(first):
        logging.getLogger("orchestrator.test").info("one")
    first.close()  # as a host that swapped stderr and closed it afterwards
    with contextlib.redirect_stderr(second):
        logging.getLogger("orchestrator.test").info("two")
    assert [json.loads(line)["message"] for line in second.getvalue().splitlines()] == ["two"]


def test_a_worker_configures_itself_from_what_the_driver_passed(restore_logging, monkeypatch):
    monkeypatch.setenv(logs.ENV_LEVEL, "debug")
    monkeypatch.setenv(logs.ENV_FORMAT, "json")
    logs.configure_worker()
    assert logging.getLogger().level == logging.DEBUG


def test_a_worker_given_nonsense_falls_back_to_warnings_in_text(restore_logging, monkeypatch):
    monkeypatch.setenv(logs.ENV_LEVEL, "loud")
    monkeypatch.setenv(logs.ENV_FORMAT, "xml")
    logs.configure_worker()
    assert logging.getLogger().level == logging.WARNING


def test_an_unknown_level_is_refused():
    with pytest.raises(ValueError, match="log level"):
        logs.configure("verbose", "text")


WORKER = {"pid": 4242, "actor_name": "CoordinatorActor", "is_err": True}


def test_a_workers_own_json_line_passes_through_unchanged(restore_logging):
    logs.configure("error", "json", io.StringIO())  # the worker applied the level already
    line = '{"time": "t", "level": "error", "logger": "x", "message": "m", "sequence": "demo:sq010"}'
    assert logs._worker_line(WORKER, line, "json") == line


def test_anything_else_a_worker_prints_becomes_a_json_line_naming_the_actor(restore_logging):
    logs.configure("warning", "json", io.StringIO())
    doc = json.loads(logs._worker_line(WORKER, "Using blocking ray.get inside async actor", "json"))
    assert doc["logger"] == "ray.worker.CoordinatorActor" and doc["level"] == "warning"
    assert doc["message"] == "Using blocking ray.get inside async actor"


def test_a_stray_print_on_a_workers_stdout_is_info(restore_logging):
    printed = {**WORKER, "is_err": False}
    logs.configure("warning", "json", io.StringIO())
    assert logs._worker_line(printed, "frame 12 done", "json") is None
    logs.configure("info", "json", io.StringIO())
    assert json.loads(logs._worker_line(printed, "frame 12 done", "json"))["level"] == "info"


def test_in_text_a_stray_line_is_prefixed_with_its_actor_and_ours_are_not(restore_logging):
    logs.configure("warning", "text", io.StringIO())
    assert logs._worker_line(WORKER, "hello", "text") == "(CoordinatorActor pid=4242) hello"
    assert logs._worker_line({"pid": 7, "is_err": True}, "hello", "text") == "(pid=7) hello"
    ours = "2026-12-07T10:00:00.000Z WARNING orchestrator.x: m"
    assert logs._worker_line(WORKER, ours, "text") == ours


def test_ray_chatter_is_dropped_unless_debugging(restore_logging):
    raylet = {"pid": "raylet", "is_err": True}
    logs.configure("info", "json", io.StringIO())
    assert logs._worker_line(raylet, "[info] started", "json") is None
    assert logs._worker_line(raylet, "Warning: memory is low", "json") is not None
    logs.configure("debug", "json", io.StringIO())
    assert logs._worker_line(raylet, "[info] started", "json") is not None


@pytest.mark.parametrize("argv", [
    ["--log-level", "info", "--log-format", "json", "validate", "x.yaml"],
    ["validate", "x.yaml", "--log-level", "info", "--log-format", "json"],
])
def test_the_log_flags_go_before_or_after_the_command(argv):
    args = parser().parse_args(argv)
    assert (args.log_level, args.log_format) == ("info", "json")


def test_every_command_takes_the_log_flags():
    p = parser()
    commands = next(a for a in p._actions if a.dest == "command").choices
    for name, sub in commands.items():
        flags = {s for a in sub._actions for s in a.option_strings}
        assert {"--log-level", "--log-format"} <= flags, name


def test_a_log_level_outside_the_four_is_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(["--log-level", "verbose", "schema"])
    assert exit_.value.code == 2 and "invalid choice: 'verbose'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--log=debug", "schema"], ["schema", "--log=debug"], ["validate", "x.yaml", "--out", "json"]])
def test_an_abbreviated_flag_is_refused_not_guessed(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(argv)
    assert exit_.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err
