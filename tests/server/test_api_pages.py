"""Pages of a collection: `page` and `per_page`, with X-Total-Count and Link, in JSON and XML;
without them the whole collection, as Deltacloud answers."""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

import httpx
import pytest

from tests.server_harness import PASSWORD


def _links(answer: httpx.Response) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', answer.headers["Link"])}


@pytest.fixture(scope="module")
def keys(api: str) -> list[str]:
    with httpx.Client(base_url=api, auth=("admin", PASSWORD), timeout=30) as client:
        for i in range(7):
            made = client.post("/api/keys?format=json", data={"name": f"page-key-{i}"})
            assert made.status_code == 201, made.text
        listed = client.get("/api/keys?format=json").json()["keys"]
    return [k["id"] for k in listed]


def test_pages_walk_the_whole_collection_in_order(client: httpx.Client, keys: list[str]) -> None:
    assert len(keys) >= 7
    seen: list[str] = []
    url: str | None = "/api/keys?format=json&per_page=3"
    pages = 0
    while url is not None:
        answer = client.get(url)
        assert answer.status_code == 200
        assert answer.headers["X-Total-Count"] == str(len(keys))
        page = answer.json()["keys"]
        assert 0 < len(page) <= 3
        seen += [k["id"] for k in page]
        links = _links(answer)
        assert "first" in links and "last" in links
        url = links.get("next")
        pages += 1
    assert seen == keys and pages == -(-len(keys) // 3)


def test_links_keep_the_query_and_the_public_address(client: httpx.Client, keys: list[str]) -> None:
    answer = client.get("/api/keys?format=json&page=2&per_page=2")
    links = _links(answer)
    assert links["prev"].endswith("/api/keys?format=json&page=1&per_page=2")
    assert links["next"].endswith("/api/keys?format=json&page=3&per_page=2")
    assert links["first"].startswith(str(client.base_url).rstrip("/"))
    assert [k["id"] for k in answer.json()["keys"]] == keys[2:4]


def test_xml_pages_too(client: httpx.Client, keys: list[str]) -> None:
    answer = client.get("/api/keys?page=1&per_page=4")
    root = ET.fromstring(answer.content)
    assert root.tag == "keys" and [k.get("id") for k in root.findall("key")] == keys[:4]
    assert answer.headers["X-Total-Count"] == str(len(keys))


def test_a_page_past_the_end_is_empty(client: httpx.Client, keys: list[str]) -> None:
    answer = client.get("/api/keys?format=json&page=999&per_page=5")
    assert answer.status_code == 200 and answer.json()["keys"] == []
    assert _links(answer)["last"].endswith(f"page={-(-len(keys) // 5)}&per_page=5")
    assert "next" not in _links(answer)


def test_without_paging_there_are_no_page_headers(client: httpx.Client, keys: list[str]) -> None:
    answer = client.get("/api/keys?format=json")
    assert "Link" not in answer.headers and "X-Total-Count" not in answer.headers


@pytest.mark.parametrize(
    "query",
    ["page=0", "page=abc", "page=-1", "page=1e3", "page=%D9%A3", "per_page=1001", "per_page=0",
     "page=99999999999", "page="],
)  # fmt: skip
def test_bad_page_parameters_are_refused(client: httpx.Client, query: str) -> None:
    answer = client.get(f"/api/keys?format=json&{query}")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 400 and re.search(
        r"(page|per_page) must be a whole number", error["message"]
    )
    xml = client.get(f"/api/instances?{query}")
    assert xml.status_code == 400 and ET.fromstring(xml.content).tag == "error"


def test_links_and_hrefs_keep_the_matrix_provider(client: httpx.Client) -> None:
    """A listing asked as /api;provider=lab/... links to lab's pages and objects, not to the
    default cloud's."""
    made = []
    for _ in range(3):
        r = client.post("/api;provider=lab/keys?format=json", data={"name": f"lab-key-{len(made)}"})
        assert r.status_code == 201, r.text
        made.append(r.json()["key"]["id"])
    lab = client.get("/api;provider=lab/keys?format=json").json()["keys"]
    first = client.get("/api;provider=lab/keys?format=json&page=1&per_page=2")
    assert first.headers["X-Total-Count"] == str(len(lab))
    following = client.get(_links(first)["next"])
    assert _links(first)["next"].split("/api", 1)[1].startswith(";provider=lab/keys?")
    assert following.headers["X-Total-Count"] == str(len(lab))
    assert following.json()["keys"] == lab[2:4]
    for key in first.json()["keys"]:
        assert ";provider=lab/keys/" in key["href"]
        assert client.get(key["href"] + "?format=json").json()["key"]["id"] == key["id"]
    for id_ in made:
        assert client.delete(f"/api;provider=lab/keys/{id_}").status_code in (200, 204)


@pytest.mark.parametrize(
    "query",
    ["x=" + "a" * 1025, "a" * 1025 + "=1", "state=" + "b" * 1025, "q=" + "c" * 1025],
)
def test_a_parameter_longer_than_a_name_is_refused(client: httpx.Client, query: str) -> None:
    answer = client.get(f"/api/keys?format=json&page=1&per_page=5&{query}")
    assert answer.status_code == 400
    assert "longer than 1,024 characters" in answer.json()["error"]["message"]
    assert "Link" not in answer.headers
    matrix = client.get("/api;provider=" + "d" * 1025 + "/keys?format=json")
    assert matrix.status_code == 400, matrix.text[:200]


def test_a_query_past_8_kb_is_refused_and_links_stay_small(client: httpx.Client) -> None:
    many = "&".join(f"x{i}=" + "v" * 1000 for i in range(9))
    answer = client.get(f"/api/keys?format=json&page=1&per_page=2&{many}")
    assert answer.status_code == 414 and answer.json()["error"]["code"] == 414
    within = "&".join(f"x{i}=" + "v" * 1000 for i in range(7))
    assert client.get(f"/api/keys?format=json&page=1&per_page=2&{within}").status_code == 200


def test_a_create_may_carry_long_user_data_in_its_query(client: httpx.Client) -> None:
    """The 8,192 bound is a read's, whose query comes back in links; user data is text."""
    data = ("IyEvYmluL3NoCmVjaG8gaGVsbG8K" * 400)[:9000]
    create = {"format": "json", "image_id": "img-alpine-320", "hwp_id": "tiny"}
    made = client.post("/api/instances", params={**create, "user_data": data})
    assert made.status_code == 201, made.text[:300]
    client.delete(f"/api/instances/{made.json()['instance']['id']}")
    lines = client.post("/api/instances", params={**create, "user_data": "#!/bin/sh\necho hi\n"})
    assert lines.status_code == 201, lines.text[:300]
    client.delete(f"/api/instances/{lines.json()['instance']['id']}")


def test_a_matrix_driver_with_a_provider_header_links_to_that_provider(
    client: httpx.Client,
) -> None:
    answer = client.get(
        "/api;driver=mock/keys?format=json&per_page=1", headers={"X-Deltacloud-Provider": "lab"}
    )
    assert answer.status_code == 200
    assert "/api;driver=mock;provider=lab/keys?" in _links(answer)["first"]
    made = client.post("/api;provider=lab/keys?format=json", data={"name": "located"})
    assert ";provider=lab/keys/" in made.headers["location"]
    client.delete(made.headers["location"])


def test_links_to_what_belongs_to_no_cloud_carry_no_provider(client: httpx.Client) -> None:
    drivers = client.get("/api;provider=lab/drivers?format=json").json()["drivers"]
    assert drivers and all("/api/drivers/" in d["href"] for d in drivers)
    too_long = client.get("/api/keys?format=" + "x" * 3000)
    assert too_long.status_code == 406 and len(too_long.text) < 1000


def test_an_empty_filter_filters_nothing(client: httpx.Client) -> None:
    made = client.post(
        "/api/instances?format=json", data={"image_id": "img-alpine-320", "hwp_id": "tiny"}
    )
    assert made.status_code == 201
    whole = client.get("/api/instances?format=json").json()["instances"]
    assert whole
    assert client.get("/api/instances?format=json&state=&realm_id=").json()["instances"] == whole
    every = client.get("/api/clouds/instances?format=json").json()["instances"]
    assert client.get("/api/clouds/instances?format=json&provider=").json()["instances"] == every
    client.delete(f"/api/instances/{made.json()['instance']['id']}")


def test_aggregated_pages_filter_before_paging(client: httpx.Client) -> None:
    made = []
    for provider in ("home", "lab", "home"):
        r = client.post(
            "/api/instances?format=json",
            headers={"X-Deltacloud-Provider": provider},
            data={"image_id": "img-alpine-320", "hwp_id": "tiny"},
        )
        assert r.status_code == 201
        made.append((r.json()["instance"]["id"], provider))
    whole = client.get("/api/clouds/instances?format=json&state=running").json()["instances"]
    assert {m[0] for m in made} <= {i["id"] for i in whole}
    first = client.get("/api/clouds/instances?format=json&state=running&per_page=2")
    assert first.headers["X-Total-Count"] == str(len(whole))
    assert first.json()["instances"] == whole[:2]
    assert "state=running" in _links(first)["next"]
    for id_, provider in made:
        client.delete(f"/api/instances/{id_}", headers={"X-Deltacloud-Provider": provider})


@pytest.mark.parametrize("size", [1, 2, 3])
def test_aggregated_pages_across_clouds_make_the_whole_listing(
    client: httpx.Client, size: int
) -> None:
    made = []
    for provider in ("lab", "home", "lab"):
        r = client.post(
            "/api/instances?format=json",
            headers={"X-Deltacloud-Provider": provider},
            data={"image_id": "img-alpine-320", "hwp_id": "tiny"},
        )
        made.append((r.json()["instance"]["id"], provider))
    whole = client.get("/api/clouds/instances?format=json").json()["instances"]
    assert {p for _, p in made} <= {i["provider"] for i in whole}
    seen: list[dict[str, object]] = []
    url: str | None = f"/api/clouds/instances?format=json&per_page={size}"
    while url is not None:
        answer = client.get(url)
        assert answer.headers["X-Total-Count"] == str(len(whole))
        seen += answer.json()["instances"]
        url = _links(answer).get("next")
    assert seen == whole
    for id_, provider in made:
        client.delete(f"/api/instances/{id_}", headers={"X-Deltacloud-Provider": provider})


def test_windows_split_a_page_between_clouds() -> None:
    from nubes.server.aggregate import _windows

    held: dict[str, int | list[object]] = {"a": 3, "b": [1, 2], "c": 4}
    assert _windows(held, 0, 2) == ({"a": (0, 2), "b": (0, 0), "c": (0, 0)}, 9)
    assert _windows(held, 2, 4) == ({"a": (2, 1), "b": (0, 2), "c": (0, 1)}, 9)
    assert _windows(held, 8, 5) == ({"a": (3, 0), "b": (2, 0), "c": (3, 1)}, 9)
    assert _windows(held, 20, 5)[0] == {"a": (3, 0), "b": (2, 0), "c": (4, 0)}
