"""The ``reportgen publish`` command (registered in ``reportgen.cli`` with ``add_command``).

Like every reportgen command: ``BadInput`` is one message and exit 2 (scrubbed of credentials
here, whoever raised it), Ctrl-C one line saying what was left as it was and exit 130.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from reportgen.publish.targets.base import Target

INTERRUPTED = 130  # as reportgen.cli: 128 + SIGINT

PUBLISH_HELP = """Publish the report in DIR (or a compare folder) to a static host.

\b
TARGET is one of:
  git:REMOTE_OR_PATH[#BRANCH]   a branch (default gh-pages) of a repository: a path, a URL or
                                the name of a remote of the repository here (git:origin)
  s3://BUCKET/PREFIX            an S3 bucket (--endpoint-url for other S3-compatible hosts)
  FOLDER                        a folder, replaced atomically

Each run goes under runs/<run-id>/ (a permalink: the id is the report's creation time and a
hash of its report.json), the newest one also under latest/, and index.html at the root lists
every published run. Credentials come from the environment or the usual config files only.

\b
Examples:
  reportgen publish site --to git:origin --base-url https://me.github.io/repo
  reportgen publish site --to s3://bucket/reports --endpoint-url https://s3.example.com
  reportgen publish site --to /srv/www/reports --dry-run
"""


@click.command(name="publish", help=PUBLISH_HELP)
@click.argument("directory", metavar="DIR")
@click.option("--to", "to", required=True, metavar="TARGET",
              help="Where to publish: git:REMOTE_OR_PATH[#BRANCH], s3://BUCKET/PREFIX or FOLDER.")
@click.option("--base-url", default=None, metavar="URL",
              help="Address the target is served at (https://host/repo); the published "
                   "summary.md then says where the run is.")
@click.option("--endpoint-url", default=None, metavar="URL",
              help="S3-compatible host for s3:// targets that are not on AWS.")
@click.option("--no-history", is_flag=True,
              help="git: replace the branch's history by one commit (every published run stays).")
@click.option("--dry-run", is_flag=True, help="List what would be added, changed and removed; "
                                              "upload nothing.")
def publish(directory: str, to: str, base_url: str | None, endpoint_url: str | None,
            no_history: bool, dry_run: bool) -> None:
    from reportgen.errors import BadInput
    from reportgen.publish.publish import publish as run_publish
    from reportgen.publish.secrets import scrub

    said = {"line": "interrupted; nothing was published"}  # what Ctrl-C says, stage by stage

    def warn(line: str) -> None:
        click.echo(scrub(line), err=True)

    def on_target(target: Target) -> None:
        said["line"] = target.interrupted

    try:
        outcome = run_publish(directory, to, base_url=base_url, endpoint_url=endpoint_url,
                              no_history=no_history, dry_run=dry_run, warn=warn,
                              on_target=on_target)
    except BadInput as exc:  # every message is scrubbed of credentials, whoever raised it
        exc.message = scrub(exc.message)
        raise
    except KeyboardInterrupt:  # one line and 130, as every reportgen command
        click.echo(said["line"], err=True)
        click.get_current_context().exit(INTERRUPTED)
    for line in outcome.lines():
        click.echo(scrub(line))
