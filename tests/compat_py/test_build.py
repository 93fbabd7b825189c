"""docker-py's images.build (the classic builder protocol, POST /build)
against berthd: the fixtures of tests/fixtures/build/cases.json that dockerd
20.10 could build are built and their configs and run outputs compared with
the recorded expectations (tests/fixtures/build/expected/), plus the errors
docker-py raises and its low-level streamed output.
"""

import http.server
import json
import os
import threading

import docker
import pytest

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "build")
CONFIG_FIELDS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts",
                 "Labels", "Volumes", "Healthcheck", "StopSignal", "Shell", "OnBuild"]
HELLO = b"hello from berth\n"
HELLO_LAST_MODIFIED = "Tue, 14 Nov 2023 22:13:20 GMT"

with open(os.path.join(FIXTURES, "cases.json")) as f:
    CASES = [c for c in json.load(f)["cases"] if not c.get("buildkit")]
with open(os.path.join(FIXTURES, "show.sh")) as f:
    SHOW_FN = f.read()


def normalize(v):
    """Drops null, "", [] and {} (engines differ in how they write "unset")."""
    if v is None or v == "" or v == []:
        return None
    if isinstance(v, dict):
        m = {k: n for k, n in ((k, normalize(x)) for k, x in v.items()) if n is not None}
        return m or None
    return v


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/hello.txt":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(HELLO)))
        self.send_header("Last-Modified", HELLO_LAST_MODIFIED)
        self.end_headers()
        self.wfile.write(HELLO)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def base(client, image):
    """The fixtures build FROM busybox: tag the test image so."""
    img = client.images.get(image)
    img.tag("busybox", "latest")
    yield "busybox:latest"
    client.images.remove("busybox:latest")


@pytest.fixture(scope="module")
def url():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def run(client, tag, script=None):
    kw = {"remove": True, "network_mode": "none"}
    if script is not None:
        return client.containers.run(tag, ["sh", "-c", script], entrypoint="/bin/busybox", **kw)
    return client.containers.run(tag, **kw)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_matches_dockerd(client, base, url, case):
    with open(os.path.join(FIXTURES, "expected", case["name"] + ".json")) as f:
        want = json.load(f)
    tag = "berth-py-build/%s:1" % case["name"]
    args = {k: v.replace("{URL}", url) for k, v in case.get("build_args", {}).items()}
    img, logs = client.images.build(path=os.path.join(FIXTURES, case["dir"]), tag=tag,
                                    buildargs=args, target=case.get("target"), rm=True)
    try:
        text = "".join(entry.get("stream", "") for entry in logs)
        assert "Successfully built" in text
        assert tag in img.tags
        config = img.attrs["Config"]
        got = {f: normalize(config.get(f)) for f in CONFIG_FIELDS}
        assert {k: v for k, v in got.items() if v is not None} == want["config"]
        if case.get("show"):
            out = run(client, tag, SHOW_FN + "\nshow " + " ".join(case["show"]))
            assert out.decode() == want["show"]["stdout"]
        if case.get("sh"):
            assert run(client, tag, case["sh"]).decode() == want["sh"]["stdout"]
        if case.get("default"):
            assert run(client, tag).decode() == want["default"]["stdout"]
    finally:
        client.images.remove(tag, force=True)


def write_context(tmp_path, dockerfile):
    (tmp_path / "Dockerfile").write_text(dockerfile)
    return str(tmp_path)


def test_failing_run_raises_build_error_with_the_log(client, base, tmp_path):
    ctx = write_context(tmp_path, "FROM busybox\nRUN echo before\nRUN exit 7\n")
    with pytest.raises(docker.errors.BuildError) as e:
        client.images.build(path=ctx, tag="berth-py-build/fail:1")
    assert "The command '/bin/sh -c exit 7' returned a non-zero code: 7" in str(e.value)
    assert any("before" in entry.get("stream", "") for entry in e.value.build_log)
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("berth-py-build/fail:1")


def test_syntax_error_is_an_api_error(client, base, tmp_path):
    ctx = write_context(tmp_path, "FROM busybox\nRUN true\nFOO bar\n")
    with pytest.raises(docker.errors.APIError) as e:
        client.images.build(path=ctx, tag="berth-py-build/syntax:1")
    assert e.value.status_code == 400
    assert "dockerfile parse error line 3: unknown instruction: FOO" in str(e.value)


def test_low_level_stream_labels_and_cache(client, base, tmp_path):
    ctx = write_context(tmp_path, "FROM busybox\nRUN echo low-level\n")
    api = client.api
    first = list(api.build(path=ctx, tag="berth-py-build/low:1", decode=True, rm=True,
                           labels={"berth.py": "1"}))
    streams = "".join(e.get("stream", "") for e in first)
    # The classic builder applies `labels` as one more LABEL step.
    assert "Step 1/3 : FROM busybox\n" in streams
    assert "Step 3/3 : LABEL berth.py=1\n" in streams
    assert "low-level\n" in streams
    ids = [e["aux"]["ID"] for e in first if "aux" in e]
    assert len(ids) == 1 and ids[0].startswith("sha256:")
    img = client.images.get("berth-py-build/low:1")
    assert img.id == ids[0]
    assert img.labels == {"berth.py": "1"}
    second = list(api.build(path=ctx, tag="berth-py-build/low:1", decode=True, rm=True,
                            labels={"berth.py": "1"}))
    assert " ---> Using cache\n" in [e.get("stream") for e in second]
    assert [e["aux"]["ID"] for e in second if "aux" in e] == ids
    quiet = list(api.build(path=ctx, quiet=True, decode=True, rm=True, labels={"berth.py": "1"}))
    assert [e.get("stream") for e in quiet if "stream" in e] == [ids[0] + "\n"]
    client.images.remove("berth-py-build/low:1", force=True)
    pruned = api.prune_builds()
    assert "SpaceReclaimed" in pruned
