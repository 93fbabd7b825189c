import docker
import pytest


def test_run_returns_output_and_removes(client, image, name):
    out = client.containers.run(image, ["echo", "hello from berth"], name=name, remove=True)
    assert out == b"hello from berth\n"
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(name)


def test_nonzero_exit_raises_container_error(client, image, name):
    with pytest.raises(docker.errors.ContainerError) as err:
        client.containers.run(image, ["sh", "-c", "echo oops >&2; exit 3"], name=name)
    assert err.value.exit_status == 3
    assert b"oops" in err.value.stderr


def test_missing_command_is_an_api_error(client, image, name):
    with pytest.raises(docker.errors.APIError) as err:
        client.containers.run(image, ["/no/such/binary"], name=name)
    assert "no such file or directory" in str(err.value)
    c = client.containers.get(name)
    assert c.attrs["State"]["ExitCode"] == 127


def test_lifecycle_inspect_wait_and_logs(client, image, name):
    c = client.containers.create(
        image,
        ["sh", "-c", "echo out; echo err >&2; exit 7"],
        name=name,
        environment={"BERTH_PY": "1"},
        labels={"berth.test": "py"},
    )
    assert c.status == "created"
    assert "BERTH_PY=1" in c.attrs["Config"]["Env"]
    assert c.attrs["Config"]["Labels"]["berth.test"] == "py"
    c.start()
    assert c.wait(timeout=60)["StatusCode"] == 7
    c.reload()
    assert c.status == "exited"
    assert c.attrs["State"]["ExitCode"] == 7
    assert c.logs(stdout=True, stderr=False) == b"out\n"
    assert c.logs(stdout=False, stderr=True) == b"err\n"
    stamped = c.logs(timestamps=True).decode().splitlines()
    assert len(stamped) == 2 and all("T" in line.split(" ")[0] for line in stamped)
    c.remove()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(name)


def test_stop_kill_restart_rename_top(client, image, name):
    c = client.containers.run(image, ["sleep", "1000"], name=name, detach=True)
    c.reload()
    assert c.status == "running"
    top = c.top()
    assert "PID" in top["Titles"]
    assert any("sleep" in " ".join(p) for p in top["Processes"])
    assert c.id in [x.id for x in client.containers.list()]
    assert c.id in [x.id for x in client.containers.list(filters={"name": name})]
    new = name + "-renamed"
    c.rename(new)
    c.reload()
    assert c.name == new
    c.rename(name)
    c.restart(timeout=1)
    c.reload()
    assert c.status == "running"
    c.kill()
    assert c.wait(timeout=60)["StatusCode"] == 137
    c.start()
    c.stop(timeout=1)
    c.reload()
    assert c.status == "exited"


def test_remove_running_is_a_conflict(client, image, name):
    c = client.containers.run(image, ["sleep", "1000"], name=name, detach=True)
    with pytest.raises(docker.errors.APIError) as err:
        c.remove()
    assert err.value.status_code == 409
    c.remove(force=True)


def test_streamed_logs_follow_until_exit(client, image, name):
    c = client.containers.run(
        image,
        ["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.2; done"],
        name=name,
        detach=True,
    )
    lines = b"".join(c.logs(stream=True, follow=True)).split()
    assert lines == [b"line1", b"line2", b"line3"]
    assert c.wait(timeout=60)["StatusCode"] == 0


def test_attach_socket_via_run_without_detach_streams_tty(client, image, name):
    out = client.containers.run(image, ["sh", "-c", "tty; echo done"], name=name, tty=True)
    assert out.replace(b"\r\n", b"\n") == b"/dev/pts/0\ndone\n"


def test_unknown_container_is_not_found(client):
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("berth-py-nope")
