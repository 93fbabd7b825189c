def test_ping_version_info(client):
    assert client.ping() is True
    v = client.version()
    assert v["ApiVersion"] == "1.41"
    assert v["MinAPIVersion"] == "1.24"
    assert v["Os"] == "linux"
    info = client.info()
    assert info["Images"] >= 1
    assert info["Driver"]
    assert info["CgroupVersion"] in ("1", "2")
