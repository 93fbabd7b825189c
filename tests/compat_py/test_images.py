import io

import docker
import pytest


def test_list_get_tag_and_remove_a_tag(client, image):
    img = client.images.get(image)
    assert img.id.startswith("sha256:")
    assert image in img.tags
    assert any(i.id == img.id for i in client.images.list())
    assert img.tag("berth-py/tagged", "v1") is True
    tagged = client.images.get("berth-py/tagged:v1")
    assert tagged.id == img.id
    client.images.remove("berth-py/tagged:v1")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("berth-py/tagged:v1")
    # The original tag is untouched.
    assert client.images.get(image).id == img.id


def test_save_then_load_round_trips_the_id(client, image):
    img = client.images.get(image)
    data = b"".join(img.save(named=True))
    assert len(data) > 1024
    img.tag("berth-py/saved", "v1")
    client.images.remove("berth-py/saved:v1")
    loaded = client.images.load(io.BytesIO(data))
    assert [i.id for i in loaded] == [img.id]


def test_missing_image_is_image_not_found(client):
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("berth-py/none:nope")
    with pytest.raises(docker.errors.NotFound):
        client.containers.create("berth-py/none:nope", "true")


def test_history_and_inspect_shapes(client, image):
    img = client.images.get(image)
    assert img.attrs["Os"] == "linux"
    assert img.attrs["RootFS"]["Type"] == "layers"
    hist = img.history()
    assert hist and "CreatedBy" in hist[0]
