"""The example CI workflow, ``examples/github-actions/report-review.yml``, run step by step.

The workflow is read with PyYAML and its ``run:`` blocks are executed as written, in order, with
bash as GitHub runs them (``bash --noprofile --norc -eo pipefail``), under GitHub's rules for a
step's ``if:`` (``success()`` unless it says otherwise), ``env:`` at each level, ``${{ }}``
expressions (a small evaluator below: context paths, string comparisons, ``!``, ``&&``, ``||``
and the status functions) and ``$GITHUB_OUTPUT`` / ``$GITHUB_ENV`` / ``$GITHUB_STEP_SUMMARY``.
Only the values a user is told to edit (the ``env:`` at the top) are changed, to point at the
stand-ins and to keep the reports small. What stands in for what:

- ``actions/checkout``: a fresh workspace per workflow run holding the three scripts where the
  workflow looks for them (``$REPORTGEN_CI``), as a user's repository would;
  ``actions/setup-python``, ``actions/cache`` and ``actions/upload-artifact``: nothing (this
  Python is on PATH; the reports share one ``--cache-dir`` here anyway); the ``pip install``
  step is skipped: ``reportgen`` runs from this checkout (a ``reportgen`` on PATH that calls
  ``python -m reportgen`` with this repository on PYTHONPATH);
- the bucket: a real S3-compatible server, SeaweedFS (``tests/s3server.py``), reached with the
  workflow's own ``--endpoint-url`` setting and throwaway keys handed over as the workflow's
  ``secrets``;
- GitHub's REST API: a stand-in, because GitHub's API cannot be reached from here. ``FakeGitHub``
  is a small ``http.server`` in a thread that implements the calls ``post_comment.py`` makes
  (list an issue's comments, paginated with a ``Link`` header; create one; edit one), checks the
  bearer token and refuses a body over GitHub's 65,536 characters. ``post_comment.py`` reaches it
  through ``GITHUB_API_URL``, as on GitHub Enterprise.

The flow: a pull request before anything was published (a comment saying so), a push to main
(published), the pull request again (the same comment, now the comparison), a pull request with
a worse model (the ``--fail-on`` step fails with exit 3, the comment is still updated, the job
fails), and one whose report cannot run (the comment says so). The models are two of the demo
checkpoints that ship with the package: nothing is trained.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.http_server import serving

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (pip install -e '.[dev]')")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "github-actions"
WORKFLOW = EXAMPLE / "report-review.yml"
SCRIPTS = ("run_report.sh", "fetch_published.py", "post_comment.py")
WEIGHTS = ROOT / "reportgen" / "models" / "demo_weights"
MARKER = "<!-- reportgen-compare -->"
REPO = "octo/models"
PR = 7
STATUS_FUNCTIONS = ("success()", "failure()", "always()", "cancelled()")
# actions the runner below knows; a step using another one fails the structure test
STAND_INS = {"actions/checkout", "actions/setup-python", "actions/cache",
             "actions/upload-artifact"}
SKIPPED = {"install": "reportgen runs from this checkout; nothing to install"}


def load_workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def triggers(doc: dict) -> dict:
    return doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as True


# GitHub's expressions: the part of the language the workflow uses ----------------------------
_TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|(==|!=|&&|\|\||!|\(|\))"
                    r"|([A-Za-z_][\w-]*(?:\.[\w-]+)*)(\(\))?)")


def evaluate(expr: str, ctx: dict) -> object:
    """``expr`` (without ``${{ }}``) in the contexts ``ctx``; a status function is
    ``ctx["status"][name]``. Unknown syntax raises, so the workflow cannot outgrow this."""
    tokens, pos = [], 0
    while pos < len(expr.rstrip()):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"expression not understood here: {expr!r} at {pos}")
        tokens.append(m.groups())
        pos = m.end()
    at = 0

    def peek() -> str | None:
        return tokens[at][1] if at < len(tokens) else None

    def primary() -> object:
        nonlocal at
        lit, op, name, call = tokens[at]
        at += 1
        if lit is not None:
            return lit[1:-1].replace("''", "'")
        if op == "(":
            value = either()
            assert peek() == ")", expr
            at += 1
            return value
        if call:
            return ctx["status"][name + "()"]
        if name in ("true", "false"):
            return name == "true"
        value: object = ctx
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return "" if value is None else value

    def unary() -> object:
        nonlocal at
        if peek() == "!":
            at += 1
            return not unary()
        left = primary()
        if peek() in ("==", "!="):
            op = peek()
            at += 1
            right = primary()
            same = str(left).lower() == str(right).lower()  # GitHub compares case-insensitively
            return same if op == "==" else not same
        return left

    def both() -> object:
        nonlocal at
        value = unary()
        while peek() == "&&":
            at += 1
            right = unary()
            value = value and right
        return value

    def either() -> object:
        nonlocal at
        value = both()
        while peek() == "||":
            at += 1
            right = both()
            value = value or right
        return value

    result = either()
    assert at == len(tokens), expr
    return result


def substitute(text: str, ctx: dict) -> str:
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(evaluate(m.group(1), ctx)), str(text))


def condition(value: object, ctx: dict, *, default: str = "success()") -> bool:
    expr = str(value if value is not None else default).strip()
    if expr.startswith("${{") and expr.endswith("}}"):
        expr = expr[3:-2]
    if not any(f in expr for f in STATUS_FUNCTIONS):  # GitHub's implied success() &&
        expr = f"success() && ({expr})"
    return bool(evaluate(expr, ctx))


# the runner -------------------------------------------------------------------------------------
@dataclass
class Step:
    id: str
    name: str
    outcome: str  # success, failure, skipped
    rc: int | None = None
    output: str = ""


@dataclass
class Job:
    conclusion: str
    steps: list[Step] = field(default_factory=list)
    workspace: Path | None = None

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)


def github_context(event_name: str, workspace: Path, sha: str) -> dict:
    event = {"pull_request": {"number": PR, "head": {"sha": sha}}, "number": PR} \
        if event_name == "pull_request" else {"ref": "refs/heads/main", "after": sha}
    return {"event_name": event_name, "event": event, "repository": REPO, "sha": sha,
            "workspace": str(workspace), "ref": "refs/heads/main"}


def run_job(doc: dict, job_name: str, *, event_name: str, workspace: Path, overrides: dict,
            secrets_: dict, base_env: dict, api_url: str, run_id: int) -> Job:
    """The job's steps, one after the other, in a fresh ``workspace``, as GitHub would."""
    job = doc["jobs"][job_name]
    workspace.mkdir(parents=True)
    temp = workspace.parent / f"{workspace.name}.runner-temp"
    temp.mkdir()
    sha = hashlib.sha1(workspace.name.encode()).hexdigest()
    ctx: dict = {"github": github_context(event_name, workspace, sha), "secrets": secrets_,
                 "vars": {}, "runner": {"os": "Linux", "temp": str(temp)}, "steps": {},
                 "status": {"success()": True, "failure()": False, "always()": True,
                            "cancelled()": False}}
    if not condition(job.get("if"), ctx):
        return Job("skipped")
    event_path = temp / "event.json"
    event_path.write_text(json.dumps(ctx["github"]["event"]), encoding="utf-8")
    summary = temp / "step-summary.md"
    env = {**base_env, "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_API_URL": api_url,
           "GITHUB_SERVER_URL": "https://github.example", "GITHUB_REPOSITORY": REPO,
           "GITHUB_EVENT_NAME": event_name, "GITHUB_EVENT_PATH": str(event_path),
           "GITHUB_WORKSPACE": str(workspace), "GITHUB_SHA": sha, "GITHUB_RUN_ID": str(run_id),
           "GITHUB_STEP_SUMMARY": str(summary), "RUNNER_TEMP": str(temp), "RUNNER_OS": "Linux"}
    for key, value in doc.get("env", {}).items():
        env[key] = str(overrides[key]) if key in overrides else substitute(value, ctx)
    for key, value in job.get("env", {}).items():
        env[key] = substitute(value, ctx)
    ctx["env"] = env
    result = Job("success", workspace=workspace)
    shell = ((job.get("defaults") or doc.get("defaults") or {}).get("run") or {}).get("shell")
    assert shell in (None, "bash"), shell
    for index, spec in enumerate(job["steps"]):
        step_id = spec.get("id", f"step{index}")
        step = Step(step_id, spec.get("name", step_id), "skipped")
        result.steps.append(step)
        if not condition(spec.get("if"), ctx):
            ctx["steps"][step_id] = {"outcome": "skipped", "conclusion": "skipped", "outputs": {}}
            continue
        if "uses" in spec:
            action = spec["uses"].split("@")[0]
            assert action in STAND_INS, action
            if action == "actions/checkout":  # the user's repository: the scripts in place
                scripts = workspace / env["REPORTGEN_CI"]
                scripts.mkdir(parents=True, exist_ok=True)
                for name in SCRIPTS:
                    shutil.copy2(EXAMPLE / name, scripts / name)
                (workspace / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
                shutil.copy2(WORKFLOW, workspace / ".github" / "workflows" / WORKFLOW.name)
            step.outcome, step.rc = "success", 0
        elif step_id in SKIPPED:
            step.outcome, step.output = "skipped", SKIPPED[step_id]
        else:
            step_env = {**env, **{k: substitute(v, ctx) for k, v in spec.get("env", {}).items()}}
            outputs, env_file = temp / f"output-{index}", temp / f"env-{index}"
            outputs.touch()
            env_file.touch()
            step_env.update(GITHUB_OUTPUT=str(outputs), GITHUB_ENV=str(env_file))
            script = temp / f"step-{index}.sh"
            script.write_text(spec["run"], encoding="utf-8")
            done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                                  check=False, cwd=workspace / spec.get("working-directory", "."),
                                  env=step_env, capture_output=True, text=True, timeout=600)
            step.rc, step.output = done.returncode, done.stdout + done.stderr
            step.outcome = "success" if done.returncode == 0 else "failure"
            env.update(_key_values(env_file))
            ctx["steps"][step_id] = {"outputs": _key_values(outputs)}
        ctx["steps"][step_id] = {**ctx["steps"].get(step_id, {"outputs": {}}),
                                 "outcome": step.outcome, "conclusion": step.outcome}
        if step.outcome == "failure" and not spec.get("continue-on-error"):
            result.conclusion = "failure"
            ctx["status"].update({"success()": False, "failure()": True})
    return result


def _key_values(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def step_env(tmp: Path) -> dict[str, str]:
    """This machine's environment without anything of a real CI or a real AWS account, with a
    ``reportgen`` and a ``python`` on PATH that run this checkout."""
    shims = tmp / "bin"
    shims.mkdir()
    for name, command in (("python", f'exec "{sys.executable}" "$@"'),
                          ("reportgen", f'exec "{sys.executable}" -m reportgen "$@"')):
        (shims / name).write_text(f"#!/bin/sh\n{command}\n")
        (shims / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "GITHUB_", "RUNNER_", "ACTIONS_", "REPORTGEN_CACHE"))}
    env.update(PATH=f"{shims}{os.pathsep}{env.get('PATH', '')}", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
               AWS_CONFIG_FILE=str(tmp / "no-aws-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp / "no-aws-credentials"),
               AWS_EC2_METADATA_DISABLED="true")
    return env


# the stand-in for GitHub's comments API ----------------------------------------------------------
class FakeGitHub:
    """Issue comments as GitHub's REST API serves them, for one repository (a stand-in: the
    real API cannot be reached from the test machine)."""

    PAGE = 30  # GitHub's default page size; post_comment.py asks for 100

    def __init__(self, token: str) -> None:
        self.token = token
        self.comments: dict[int, list[dict]] = {}
        self.requests: list[tuple[str, str]] = []
        self.next_id = 1000
        self.lock = threading.Lock()

    def add(self, issue: int, body: str, login: str) -> dict:
        self.next_id += 1
        comment = {"id": self.next_id, "body": body, "user": {"login": login},
                   "html_url": f"https://github.example/{REPO}/pull/{issue}"
                               f"#issuecomment-{self.next_id}"}
        self.comments.setdefault(issue, []).append(comment)
        return comment

    def marked(self, issue: int = PR) -> list[dict]:
        return [c for c in self.comments.get(issue, []) if MARKER in c["body"]]

    def handle(self, method: str, url: str, headers, body: bytes) -> tuple[int, object, dict]:
        parts = urlsplit(url)
        self.requests.append((method, parts.path))
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials"}, {}
        if not headers.get("Accept", "").startswith("application/vnd.github"):
            return 415, {"message": "Unsupported media type"}, {}
        issue = re.fullmatch(rf"/repos/{REPO}/issues/(\d+)/comments", parts.path)
        edit = re.fullmatch(rf"/repos/{REPO}/issues/comments/(\d+)", parts.path)
        if method in ("POST", "PATCH"):
            text = json.loads(body or b"{}").get("body")
            if not isinstance(text, str) or len(text) > 65536:
                return 422, {"message": "Validation Failed"}, {}
        if issue and method == "GET":
            query = parse_qs(parts.query)
            size = min(int(query.get("per_page", [self.PAGE])[0]), 100)
            page = int(query.get("page", ["1"])[0])
            every = self.comments.get(int(issue.group(1)), [])
            link = {}
            if page * size < len(every):
                link = {"Link": f'<{parts.scheme or "http"}://{headers["Host"]}{parts.path}'
                                f'?per_page={size}&page={page + 1}>; rel="next"'}
            return 200, every[(page - 1) * size:page * size], link
        if issue and method == "POST":
            return 201, self.add(int(issue.group(1)), text, "github-actions[bot]"), {}
        if edit and method == "PATCH":
            for comments in self.comments.values():
                for comment in comments:
                    if comment["id"] == int(edit.group(1)):
                        if comment["user"]["login"] != "github-actions[bot]":
                            return 403, {"message": "Resource not accessible by integration"}, {}
                        comment["body"] = text
                        return 200, comment, {}
        return 404, {"message": "Not Found"}, {}


@contextmanager
def serve_github(fake: FakeGitHub) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            with fake.lock:
                code, payload, extra = fake.handle(self.command, self.path, self.headers,
                                                   self.rfile.read(length))
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as base:
        yield base


# the workflow's structure -------------------------------------------------------------------------
def run_blocks(doc: dict) -> list[str]:
    return [s["run"] for job in doc["jobs"].values() for s in job["steps"] if "run" in s]


def test_workflow_structure() -> None:
    doc = load_workflow()
    on = triggers(doc)
    assert on["pull_request"]["branches"] == ["main"] and on["push"]["branches"] == ["main"]
    review, publish = doc["jobs"]["review"], doc["jobs"]["publish"]
    assert review["permissions"]["pull-requests"] == "write"
    assert doc["permissions"] == {"contents": "read"}  # nothing more unless a job asks
    status = {"success()": True, "failure()": False, "always()": True, "cancelled()": False}
    for event, runs in (("pull_request", "review"), ("push", "publish")):
        ctx = {"github": github_context(event, Path("."), "0" * 40), "status": status}
        assert [n for n, j in doc["jobs"].items() if condition(j.get("if"), ctx)] == [runs]
    ids = {name: [s.get("id") for s in job["steps"]] for name, job in doc["jobs"].items()}
    assert [i for i in ids["review"] if i] == ["install", "run", "fetch", "compare", "comment"]
    assert [i for i in ids["publish"] if i] == ["install", "run", "publish"]
    steps = {s.get("id"): s for s in review["steps"]}
    assert "--fail-on" in steps["compare"]["run"] and "reportgen compare" in steps["compare"]["run"]
    assert "cancelled()" in steps["comment"]["if"] or "always()" in steps["comment"]["if"]
    assert steps["comment"]["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    assert "pip install" in steps["install"]["run"]
    assert "reportgen publish site" in {s.get("id"): s for s in publish["steps"]}["publish"]["run"]
    for job in doc["jobs"].values():  # the runner below has a stand-in for every action used
        assert {s["uses"].split("@")[0] for s in job["steps"] if "uses" in s} <= STAND_INS
    for block in run_blocks(doc):  # values come in through env:, never spliced into the shell
        assert "${{" not in block, block
    used = " ".join(run_blocks(doc))
    readme = (EXAMPLE / "README.md").read_text(encoding="utf-8")
    for name in SCRIPTS:
        assert f"$REPORTGEN_CI/{name}" in used and name in readme, name
    for key in ("REPORTGEN_MODELS", "REPORTGEN_DATA", "REPORTGEN_ARGS", "REPORTGEN_FAIL_ON",
                "REPORTGEN_PUBLISH_TO", "REPORTGEN_S3_ENDPOINT_URL", "REPORTGEN_CACHE_DIR"):
        assert key in doc["env"], key
    assert doc["env"]["REPORTGEN_MODELS"] == "demo" and doc["env"]["REPORTGEN_DATA"] == "demo"
    main_readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "examples/github-actions/" in main_readme
    from reportgen.review.markdown import MARKER as compare_marker  # what compare.md carries

    assert MARKER == compare_marker
    assert f'MARKER = "{MARKER}"' in (EXAMPLE / "post_comment.py").read_text(encoding="utf-8")


def test_expressions() -> None:
    ctx = {"github": {"event_name": "push"}, "steps": {"run": {"outcome": "failure"}},
           "secrets": {}, "status": {"success()": False, "failure()": True, "always()": True,
                                     "cancelled()": False}}
    assert evaluate("github.event_name == 'PUSH'", ctx) is True
    assert evaluate("!cancelled() && steps.run.outcome != 'success'", ctx) is True
    assert evaluate("secrets.MISSING", ctx) == ""
    assert condition(None, ctx) is False and condition("${{ !cancelled() }}", ctx) is True
    assert condition("github.event_name == 'push'", ctx) is False  # success() is implied
    with pytest.raises(ValueError):
        evaluate("fromJSON(x) > 1", ctx)


# the steps, run ---------------------------------------------------------------------------------
@pytest.fixture
def stand_ins(tmp_path: Path) -> Iterator[dict]:
    from tests.s3server import seaweedfs

    token = f"ghs_{secrets.token_hex(16)}"
    fake = FakeGitHub(token)
    for n in range(120):  # a busy pull request: our comment lands on the second page of 100
        fake.add(PR, f"review note {n}", "someone")
    fake.add(PR, f"quoting the marker inline: `{MARKER}` is not ours", "someone-else")
    (tmp_path / "s3").mkdir()
    with seaweedfs(tmp_path / "s3", "reports") as s3, serve_github(fake) as api:
        yield {"s3": s3, "github": fake, "api": api, "token": token}


def our_comment(fake: FakeGitHub) -> dict:
    ours = [c for c in fake.marked() if c["user"]["login"] == "github-actions[bot]"]
    assert len(ours) == 1, [c["id"] for c in ours]
    return ours[0]


@pytest.mark.slow
def test_pull_request_and_push_steps(tmp_path: Path, stand_ins: dict) -> None:
    doc, fake, s3 = load_workflow(), stand_ins["github"], stand_ins["s3"]
    base = step_env(tmp_path)
    overrides = {
        "REPORTGEN_MODELS": str(WEIGHTS / "lstm.pt"), "REPORTGEN_DATA": "demo",
        "REPORTGEN_ARGS": "--only saliency --max-examples 200 --quiet",
        "REPORTGEN_FAIL_ON": "accuracy<-0.01",
        "REPORTGEN_PUBLISH_TO": f"s3://{s3['bucket']}/ci/reports",
        "REPORTGEN_S3_ENDPOINT_URL": s3["endpoint"], "REPORTGEN_BASE_URL": "",
        "REPORTGEN_CACHE_DIR": str(tmp_path / "cache")}  # one cache for every run here
    secrets_ = {"GITHUB_TOKEN": stand_ins["token"], "AWS_ACCESS_KEY_ID": s3["key"],
                "AWS_SECRET_ACCESS_KEY": s3["secret"]}
    runs = iter(range(1, 100))

    def workflow(event: str, **changed: str) -> dict[str, Job]:
        n = next(runs)
        jobs = {name: run_job(doc, name, event_name=event, workspace=tmp_path / f"run{n}-{name}",
                              overrides={**overrides, **changed}, secrets_=secrets_,
                              base_env=base, api_url=stand_ins["api"], run_id=n)
                for name in doc["jobs"]}
        for job in jobs.values():
            for step in job.steps:  # never printed by any step
                assert stand_ins["token"] not in step.output and s3["secret"] not in step.output
        return jobs

    def explain(job: Job) -> str:
        return "\n".join(f"--- {s.name}: {s.outcome} ({s.rc})\n{s.output[-3000:]}"
                         for s in job.steps)

    # 1. a pull request before main published anything: a comment that says so
    jobs = workflow("pull_request")
    assert jobs["publish"].conclusion == "skipped"
    pr = jobs["review"]
    assert pr.conclusion == "success", explain(pr)
    assert [s.outcome for s in pr.steps] == ["success", "success", "skipped", "success",
                                             "success", "success", "success", "success", "success"]
    assert "nothing published" in pr.step("fetch").output
    assert not (pr.workspace / "main-report").exists() and not (pr.workspace / "cmp").exists()
    first = our_comment(fake)
    assert "no report of main has been published yet" in first["body"]
    assert f"https://github.example/{REPO}/actions/runs/1" in first["body"]
    assert [m for m, _ in fake.requests].count("POST") == 1

    # 2. a push to main: the report is published to the bucket
    jobs = workflow("push")
    assert jobs["review"].conclusion == "skipped"
    main = jobs["publish"]
    assert main.conclusion == "success", explain(main)
    main_json = (main.workspace / "site" / "report.json").read_bytes()
    latest = s3_object(s3, "ci/reports/latest/report.json")
    assert latest == main_json
    assert json.loads(s3_object(s3, "ci/reports/runs.json"))["runs"]

    # 3. the pull request again: the same comment, now the comparison, exit 0
    fake.requests.clear()
    pr = workflow("pull_request")["review"]
    assert pr.conclusion == "success", explain(pr)
    assert pr.step("compare").rc == 0 and pr.step("comment").rc == 0
    for name in ("compare.md", "compare.json", "compare.html"):
        assert (pr.workspace / "cmp" / name).is_file(), name
    assert (pr.workspace / "main-report" / "report.json").read_bytes() == main_json
    compared = json.loads((pr.workspace / "cmp" / "compare.json").read_text(encoding="utf-8"))
    assert compared["old"]["report_sha256"] == hashlib.sha256(main_json).hexdigest()
    assert compared["fail_on"]["failed"] is False and compared["fail_on"]["rules"]
    md = (pr.workspace / "cmp" / "compare.md").read_text(encoding="utf-8")
    comment = our_comment(fake)
    assert comment["id"] == first["id"]  # updated, not posted again
    assert comment["body"].startswith(md.rstrip("\n")) and "actions/runs/3" in comment["body"]
    methods = [m for m, _ in fake.requests]
    assert "POST" not in methods and methods.count("PATCH") == 1
    assert methods.count("GET") == 2  # page 1 (100 comments), then the Link to page 2
    summary = (pr.workspace.parent / f"{pr.workspace.name}.runner-temp" / "step-summary.md")
    assert summary.read_text(encoding="utf-8") == md

    # 4. a worse model: the gate fails the compare step (exit 3), the comment is still updated
    pr = workflow("pull_request", REPORTGEN_MODELS=str(WEIGHTS / "char-cnn.pt"))["review"]
    assert pr.conclusion == "failure", explain(pr)
    assert pr.step("compare").outcome == "failure" and pr.step("compare").rc == 3, explain(pr)
    assert "::error::a --fail-on rule found a significant regression" in pr.step("compare").output
    assert pr.step("comment").outcome == "success", explain(pr)
    compared = json.loads((pr.workspace / "cmp" / "compare.json").read_text(encoding="utf-8"))
    assert compared["fail_on"]["failed"] is True and compared["fail_on"]["exit_code"] == 3
    comment = our_comment(fake)
    assert comment["id"] == first["id"] and comment["body"] != md
    assert comment["body"].startswith(
        (pr.workspace / "cmp" / "compare.md").read_text(encoding="utf-8").rstrip("\n"))

    # 5. a report that cannot run: nothing to compare, and the comment says why
    pr = workflow("pull_request", REPORTGEN_DATA="csv:no-such-file.csv")["review"]
    assert pr.conclusion == "failure"
    assert pr.step("run").rc == 2 and pr.step("fetch").outcome == "skipped"
    assert pr.step("compare").outcome == "skipped" and pr.step("comment").outcome == "success"
    comment = our_comment(fake)
    assert comment["id"] == first["id"]
    assert "the report of this pull request failed" in comment["body"]
    assert len(fake.comments[PR]) == 122  # 121 of others, one of ours


def s3_object(s3: dict, key: str) -> bytes:
    import boto3

    client = boto3.client("s3", endpoint_url=s3["endpoint"], aws_access_key_id=s3["key"],
                          aws_secret_access_key=s3["secret"], region_name="us-east-1")
    return client.get_object(Bucket=s3["bucket"], Key=key)["Body"].read()


# the other target: a gh-pages branch ------------------------------------------------------------
@pytest.mark.skipif(shutil.which("git") is None, reason="the git command line is not installed")
def test_fetch_published_from_a_git_branch(tmp_path: Path) -> None:
    """``fetch_published.py`` with the git form of ``REPORTGEN_PUBLISH_TO``: a bare repository
    stands in for the remote; the committed demo report is published to it."""
    site = ROOT / "site"
    if not (site / "report.json").is_file():
        pytest.skip("the committed demo report site/ is missing")
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    fetch = [sys.executable, str(EXAMPLE / "fetch_published.py"), f"git:{remote}#gh-pages"]
    env = step_env(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, check=False, capture_output=True, text=True, env=env)

    nothing = run(*fetch, str(tmp_path / "empty"))
    assert nothing.returncode == 0 and "nothing published" in nothing.stdout, nothing.stderr
    assert not (tmp_path / "empty").exists()
    published = run(sys.executable, "-m", "reportgen", "publish", str(site), "--to",
                    f"git:{remote}#gh-pages")
    assert published.returncode == 0, published.stdout + published.stderr
    got = run(*fetch, str(tmp_path / "main-report"))
    assert got.returncode == 0, got.stderr
    expected = {p.relative_to(site).as_posix(): p.read_bytes() for p in site.rglob("*")
                if p.is_file() and not p.name.startswith(".")}
    fetched = {p.relative_to(tmp_path / "main-report").as_posix(): p.read_bytes()
               for p in (tmp_path / "main-report").rglob("*") if p.is_file()}
    assert fetched == expected
    broken = run(*fetch[:2], f"git:{tmp_path / 'nowhere.git'}", str(tmp_path / "x"))
    assert broken.returncode == 1 and "cannot read" in broken.stderr
