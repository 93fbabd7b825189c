import io
import tarfile
import uuid

import docker
import pytest


def test_exec_run_output_exit_code_user_and_env(client, image, name):
    c = client.containers.run(image, ["sleep", "1000"], name=name, detach=True)
    res = c.exec_run(["sh", "-c", "echo $FOO; id -u; exit 4"], environment={"FOO": "bar"}, user="nobody")
    assert res.exit_code == 4
    assert res.output == b"bar\n65534\n"
    res = c.exec_run(["/no/such"])
    assert res.exit_code == 126
    assert c.id in [x.id for x in client.containers.list()]
    # Like dockerd, a container lists only the execs that have not exited.
    assert client.api.inspect_container(c.id)["ExecIDs"] is None
    pending = client.api.exec_create(c.id, ["true"])["Id"]
    assert client.api.inspect_container(c.id)["ExecIDs"] == [pending]


def test_put_and_get_archive(client, image, name):
    c = client.containers.run(image, ["sleep", "1000"], name=name, detach=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = b"hello berth\n"
        info = tarfile.TarInfo("greeting.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    assert c.put_archive("/tmp", buf.getvalue()) is True
    assert c.exec_run(["cat", "/tmp/greeting.txt"]).output == b"hello berth\n"
    stream, stat = c.get_archive("/tmp/greeting.txt")
    assert stat["name"] == "greeting.txt"
    assert stat["size"] == 12
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as t:
        assert t.extractfile("greeting.txt").read() == b"hello berth\n"
    with pytest.raises(docker.errors.NotFound):
        c.get_archive("/no/such/file")


def test_named_volume_outlives_its_container(client, image):
    vol = "berth-py-vol-" + uuid.uuid4().hex[:8]
    v = client.volumes.create(vol, labels={"berth.test": "py"})
    try:
        assert v.name == vol
        assert client.volumes.get(vol).attrs["Labels"] == {"berth.test": "py"}
        client.containers.run(image, ["sh", "-c", "echo kept > /data/x"], volumes={vol: {"bind": "/data", "mode": "rw"}}, remove=True)
        out = client.containers.run(image, ["cat", "/data/x"], volumes={vol: {"bind": "/data", "mode": "ro"}}, remove=True)
        assert out == b"kept\n"
        assert vol in [x.name for x in client.volumes.list()]
    finally:
        client.volumes.get(vol).remove()
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get(vol)


def test_user_network_resolves_container_names(client, image, name):
    net = client.networks.create("berth-py-net-" + uuid.uuid4().hex[:8], driver="bridge")
    try:
        server = client.containers.run(image, ["sleep", "1000"], name=name, detach=True, network=net.name)
        out = client.containers.run(image, ["busybox", "nslookup", name], network=net.name, remove=True)
        server.reload()
        ip = server.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"]
        assert ip and ip.encode() in out
        net.reload()
        assert server.id in net.attrs["Containers"]
        server.remove(force=True)
    finally:
        net.remove()
    with pytest.raises(docker.errors.NotFound):
        client.networks.get(net.id)


def test_published_port_and_pause(client, image, name):
    c = client.containers.run(image, ["sleep", "1000"], name=name, detach=True, ports={"80/tcp": ("127.0.0.1", None)}, mem_limit="64m")
    c.reload()
    binding = c.attrs["NetworkSettings"]["Ports"]["80/tcp"][0]
    assert binding["HostIp"] == "127.0.0.1" and int(binding["HostPort"]) > 0
    assert c.attrs["HostConfig"]["Memory"] == 64 * 1024 * 1024
    c.pause()
    c.reload()
    assert c.status == "paused"
    c.unpause()
    stats = c.stats(stream=False)
    assert stats["memory_stats"]["limit"] == 64 * 1024 * 1024
    assert stats["pids_stats"]["current"] >= 1
