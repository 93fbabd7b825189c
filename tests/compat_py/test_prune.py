import uuid

import docker


def test_prunes_take_only_what_their_filters_match(client, image):
    tag = uuid.uuid4().hex[:10]
    label = {"berth.py.prune": tag}
    # Written to the container's own layer, so even dockerd (which counts
    # only that layer) reports space reclaimed.
    gone = client.containers.run(
        image, ["sh", "-c", "head -c 100000 /dev/zero > /blob"], detach=True, labels=label
    )
    kept = client.containers.run(image, ["true"], detach=True, labels={"berth.py.other": tag})
    try:
        assert gone.wait()["StatusCode"] == 0
        assert kept.wait()["StatusCode"] == 0
        img = gone.commit(repository="berth-py-prune", tag=tag, conf={"Labels": label})
        vol = client.volumes.create("berth-py-prune-" + tag, labels=label)
        net = client.networks.create("berth-py-prune-" + tag, labels=label)
        only = {"label": "berth.py.prune=" + tag}

        res = client.containers.prune(filters=only)
        assert res["ContainersDeleted"] == [gone.id]
        assert res["SpaceReclaimed"] > 0
        with_kept = client.containers.list(all=True, filters={"id": kept.id})
        assert [c.id for c in with_kept] == [kept.id]

        # API 1.41: a volume prune takes named volumes too (dockerd 20.10).
        res = client.volumes.prune(filters=only)
        assert res["VolumesDeleted"] == [vol.name]
        res = client.networks.prune(filters=only)
        assert res["NetworksDeleted"] == [net.name]

        res = client.images.prune(filters={"dangling": False, **only})
        deleted = [d.get("Deleted") for d in res["ImagesDeleted"]]
        assert img.id in deleted
        assert res["SpaceReclaimed"] > 0
        try:
            client.images.get(img.id)
            raise AssertionError("the pruned image is still there")
        except docker.errors.ImageNotFound:
            pass
        client.images.get(image)  # the base image stays: a container (kept) uses it
    finally:
        for c in (gone, kept):
            try:
                c.remove(force=True)
            except docker.errors.NotFound:
                pass


def test_df_reports_images_containers_volumes_and_build_cache(client, image):
    df = client.df()
    for key in ("LayersSize", "Images", "Containers", "Volumes", "BuildCache"):
        assert key in df, key
    assert df["LayersSize"] > 0
    ours = [i for i in df["Images"] if image in (i.get("RepoTags") or [])]
    assert len(ours) == 1
    assert ours[0]["Size"] > 0
