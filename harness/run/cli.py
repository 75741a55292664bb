"""The one command line, behind both `swarm-bench` (pyproject's console script) and `run.py`.

    swarm-bench suite=scaling [model=mamba] [suite.seq_lens=[1024,4096]] [device=cuda dtype=bf16]
    swarm-bench compare baseline=<run> candidate=<run> [markdown=gate.md]
    swarm-bench claims store=results/reference [out=...]
    swarm-bench corpus build [out=data/corpus]
    swarm-bench --help | --cfg job [overrides]        (the resolved values of a run, for this device)
    swarm-bench -m seed=0,1 model=mamba,transformer   (a multirun: every combination, one sweep)

Every argument is Hydra's `key=value` override syntax. A user mistake exits with code 2 and
one line on stderr, never a traceback; see `--help` for the other exit codes. This module
imports nothing heavy at the top: a sweep's first warm worker is started before torch and the
suites are imported here, so the two processes import side by side (`_early_worker`).
"""
from __future__ import annotations

import os
import signal
import sys
from typing import Callable

from harness.errors import UserError
from models.errors import ModelConfigError

EXIT_CODES = """exit codes:
  0  every point ended ok or oom (or was done before); compare: nothing regressed
  1  a point ended error, crashed or timeout; compare: a point regressed, failed or changed
  2  a user mistake (unknown suite, model or key, wrong type, impossible size, missing data)
  130 interrupted (Ctrl-C); 143 / 129 terminated (SIGTERM / SIGHUP): the running point is
      stopped and not recorded, finished points are kept in the store"""


def help_text() -> str:
    from harness.run import commands, sweep
    from harness.run.config import group_options
    from models import registry as models
    from suites import registry as suites

    width = max(map(len, [*suites.SUITES, *commands.COMMANDS])) + 2
    lines = ["usage: swarm-bench suite=<suite> [model=<model>] [key=value ...]",
             "       swarm-bench <command> [key=value ...]", "", "commands:",
             f"  {'suite=<name>':<{width}}run a suite's sweep into results_dir (the default command)"]
    lines += [f"  {name:<{width}}{summary}" for name, (_, summary) in commands.COMMANDS.items()]
    lines += ["", "suites (suite=<name>; sizes per device in conf/suite/<name>.yaml):"]
    lines += [f"  {name:<{width}}{suites.SUITES[name].summary}" for name in sorted(suites.SUITES)]
    lines += ["", "models (model=<name> narrows a suite to one; model.<key>=<value> overrides its preset):",
              "  " + ", ".join(models.MODELS), "",
              "launchers (launcher=<name>): " + ", ".join(group_options("launcher")), "",
              "top-level keys: " + commands.schema_help(sweep.TopConfig) + " (defaults in conf/config.yaml)",
              "  --cfg job prints the values a command line would run with (profiles resolved for this device)",
              "  -m key=a,b other=x,y runs every combination as one sweep into one store (Hydra's sweep syntax)",
              "", EXIT_CODES]
    return "\n".join(lines)


def _legacy_corpus(argv: list[str]) -> list[str] | None:
    """`corpus=build corpus.<key>=<value>` (the old spelling) -> `corpus build <key>=<value>`."""
    if "corpus=build" not in argv:
        return None
    rest = [a for a in argv if a != "corpus=build"]
    stray = [a for a in rest if not a.startswith("corpus.")]
    if stray:
        raise UserError(f"corpus build takes only its own keys; got {' '.join(stray)}")
    return ["build", *(a[len("corpus."):] for a in rest)]


def _early_worker(argv: list[str]):
    """The first warm worker of what looks, from the raw arguments, like a local sweep under
    isolation=chain; None otherwise. Only a guess: sweep.run keeps it when the composed config
    agrees and ends it when not, so a wrong guess costs an idle process, never a result."""
    argv = [a for a in argv if a not in ("-m", "--multirun")]
    if not argv or any("=" not in a or a.startswith("-") for a in argv) or "corpus=build" in argv:
        return None  # a command (compare, claims, corpus ...), a flag, or --help
    keys = {a.lstrip("+~").partition("=")[0]: a.partition("=")[2].strip().lower() for a in argv}
    if keys.get("dry_run") == "true" or keys.get("isolation") == "point" or keys.get("launcher", "local") != "local":
        return None
    from harness.run.isolation import start_early

    return start_early()


def dispatch(argv: list[str], early=None) -> int:
    """Run the command line; `early`: a warm worker from _early_worker, handed to the sweep."""
    from harness.run import commands, multirun, sweep
    from harness.run.config import compose_config, to_container

    if argv[:1] and argv[0] in ("-h", "--help", "help"):
        print(help_text())
        return 0
    if argv[:1] and argv[0] in commands.COMMANDS:
        return commands.COMMANDS[argv[0]][0](argv[1:])
    legacy = _legacy_corpus(argv)
    if legacy is not None:
        return commands.corpus(legacy)
    if argv[:1] and "=" not in argv[0] and not argv[0].startswith("-"):
        raise UserError(f"unknown command {argv[0]!r}; valid: {', '.join(commands.COMMANDS)}, or suite=<name> "
                        "(see --help)")
    if multirun.requested(argv):
        combos, tags, title = multirun.combinations(multirun.without_flag(argv))
        return sweep.run_many([to_container(compose_config(c)) for c in combos], early=early, title=title, tags=tags)
    if _flag_value(argv, "--cfg") == "job":  # the values a run would use, profiles resolved
        return sweep.show_config(to_container(compose_config([a for a in argv if a not in ("--cfg", "job")])))
    if any(arg.startswith("-") for arg in argv):  # --cfg hydra, --info ...: Hydra's own flags
        compose_config([arg for arg in argv if "=" in arg and not arg.startswith("-")])
        return _hydra_main()
    return sweep.run(to_container(compose_config(argv)), early=early)


def _flag_value(argv: list[str], flag: str) -> str | None:
    if flag in argv and argv.index(flag) + 1 < len(argv):
        return argv[argv.index(flag) + 1]
    return None


class Terminated(BaseException):
    """SIGTERM or SIGHUP reached the command (what `timeout`, SLURM and `docker stop` send).
    A BaseException, so it unwinds like Ctrl-C: the running point's process group is killed
    on the way out and nothing half-done is recorded."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminate(signum, frame) -> None:
    raise Terminated(signum)


def guarded(work: Callable[[], int]) -> int:
    """Run `work` with the exit-code mapping of the command line: user mistakes -> 2 and one
    line; Ctrl-C -> 130; SIGTERM/SIGHUP -> 128 + signal, after the running point is killed."""
    previous = {s: signal.signal(s, _terminate) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return work()
    except (UserError, ModelConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished points are kept in the store", file=sys.stderr)
        return 130
    except Terminated as exc:
        print(f"terminated by {exc}; the running point was stopped and not recorded; finished points are kept "
              "in the store (run the same command again to resume)", file=sys.stderr)
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(128 + exc.signum)  # launcher threads may still be running points: their workers die with us
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    early = _early_worker(argv)
    try:
        return guarded(lambda: dispatch(argv, early))
    finally:
        if early is not None:
            early.close()  # already ended by the sweep, unless it never got that far


def _hydra_main() -> int:
    import hydra
    from omegaconf import OmegaConf

    from harness.run import sweep
    from harness.run.config import CONF_DIR, register_schemas

    register_schemas()
    outcome = {"code": 0}

    @hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
    def task(cfg) -> None:
        try:
            outcome["code"] = sweep.run(OmegaConf.to_container(cfg, resolve=True))
        except (UserError, ModelConfigError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            outcome["code"] = 2

    task()
    return outcome["code"]


def console_main() -> None:
    """The `swarm-bench` console script."""
    sys.exit(main())
