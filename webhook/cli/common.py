"""What every subcommand shares: the exit codes, how they are written in --help, and stderr.

One rule for every subcommand: stdout carries the output asked for, and only it; stderr says what went
wrong, once, starting "workerguard: " and naming the file (with line and column where there is one).
"""

from __future__ import annotations

import argparse
import sys
import textwrap

EXIT_OK = 0
EXIT_JUDGED = 1  # the tool looked and said no: a denial, problems found, a certificate check failing
EXIT_UNUSABLE = 2  # the tool could not look: unreadable input or a usage error


def exit_codes(*lines: tuple[int, str]) -> str:
    """The --help epilog listing a subcommand's exit codes, each with what it means there."""
    return "exit codes (the same meaning in every workerguard command):\n" + "".join(
        textwrap.fill(text, 100, initial_indent=f"  {code}  ", subsequent_indent="     ") + "\n" for code, text in lines
    )


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str, epilog: str
) -> argparse.ArgumentParser:
    """A subcommand whose --help keeps its epilog's line breaks (the exit codes, the outputs)."""
    return commands.add_parser(
        name, help=summary, description=summary, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def report(*messages: str) -> None:
    """One line on stderr per message, each starting 'workerguard: '."""
    for message in messages:
        print(f"workerguard: {message}", file=sys.stderr, flush=True)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
