"""ListObjectsV2 and ListObjects (v1) through unmodified boto3 and its paginators."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

import pytest
from s3_helpers import assert_request_id, expect_error, list_keys, make_client

from bifrost_py.testing import RunningServer

pytestmark = pytest.mark.every_store

KEY_COUNT = 1100
BIG_KEYS = [f"key-{i:05d}" for i in range(KEY_COUNT)]

# A tree whose delimited listing mixes plain keys and common prefixes, so that small pages end
# on a key, on a prefix, and in the middle of a prefix's keys.
TREE = ["a", "b/1", "b/2", "b/3", "c", "d/x/1", "d/y", "e", "f/", "f/g", "g", "h/1", "h/2",
        "i", "j/1", "k", "l/1", "l/2/3", "m"]
# Keys that need url encoding in listings; boto3 decodes them again.
ENCODED_KEYS = ["plain", "with space", "plus+sign", "a+b c/d e", "café/thé", "日本/語",
                "emoji 😀", "percent%20", "tab\tkey", "amp&key", "lt<gt>"]


def _delimited(keys: list[str], delimiter: str, prefix: str = "") -> tuple[list[str], list[str]]:
    """What S3 answers for a delimited listing: (keys, common prefixes)."""
    plain: list[str] = []
    prefixes: list[str] = []
    for key in sorted(k for k in keys if k.startswith(prefix)):
        cut = key.find(delimiter, len(prefix))
        if cut < 0:
            plain.append(key)
        elif key[:cut + len(delimiter)] not in prefixes:
            prefixes.append(key[:cut + len(delimiter)])
    return plain, prefixes


def _put_all(client: Any, bucket: str, keys: list[str]) -> None:
    def put(key: str) -> None:
        client.put_object(Bucket=bucket, Key=key, Body=key.encode())

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, keys))


def _pages(s3: Any, operation: str, **kwargs: Any) -> list[dict[str, Any]]:
    return list(s3.get_paginator(operation).paginate(**kwargs))


def _contents(pages: list[dict[str, Any]]) -> list[str]:
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _common_prefixes(pages: list[dict[str, Any]]) -> list[str]:
    return [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]


@pytest.fixture(scope="module")
def big(bifrost_server: RunningServer) -> Iterator[tuple[Any, str]]:
    """One bucket of 1,100 keys for the module, and a client on it."""
    client = make_client(bifrost_server, max_pool_connections=16)
    name = f"big-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    _put_all(client, name, BIG_KEYS)
    yield client, name


@pytest.fixture
def tree(s3: Any, bucket: str) -> str:
    _put_all(s3, bucket, TREE)
    return bucket


# ListObjectsV2 over 1,100 keys

def test_paginator_returns_all_keys_in_order_in_pages_of_1000(big: tuple[Any, str]) -> None:
    s3, bucket = big
    pages = _pages(s3, "list_objects_v2", Bucket=bucket)
    assert [page["KeyCount"] for page in pages] == [1000, 100]
    assert [page["IsTruncated"] for page in pages] == [True, False]
    assert pages[0]["MaxKeys"] == 1000
    assert "NextContinuationToken" in pages[0]
    assert "NextContinuationToken" not in pages[1]
    assert pages[1]["ContinuationToken"] == pages[0]["NextContinuationToken"]
    assert _contents(pages) == BIG_KEYS
    for page in pages:
        assert_request_id(page)


def test_paginator_page_size_7_returns_every_key_once(big: tuple[Any, str]) -> None:
    s3, bucket = big
    pages = _pages(s3, "list_objects_v2", Bucket=bucket, PaginationConfig={"PageSize": 7})
    assert len(pages) == -(-KEY_COUNT // 7)
    assert all(page["KeyCount"] == 7 for page in pages[:-1])
    assert pages[-1]["KeyCount"] == KEY_COUNT % 7
    assert _contents(pages) == BIG_KEYS


def test_listing_entries_have_size_etag_date_and_storage_class(big: tuple[Any, str]) -> None:
    s3, bucket = big
    entry = s3.list_objects_v2(Bucket=bucket, MaxKeys=1)["Contents"][0]
    head = s3.head_object(Bucket=bucket, Key=entry["Key"])
    assert entry["Key"] == BIG_KEYS[0]
    assert entry["Size"] == len(BIG_KEYS[0])
    assert entry["ETag"] == head["ETag"]
    # HTTP dates have whole seconds; the listing may carry milliseconds but the same second.
    assert entry["LastModified"].replace(microsecond=0) == head["LastModified"]
    assert entry["StorageClass"] == "STANDARD"
    assert "Owner" not in entry


def test_prefix_selects_only_matching_keys(big: tuple[Any, str]) -> None:
    s3, bucket = big
    response = s3.list_objects_v2(Bucket=bucket, Prefix="key-010")
    assert [o["Key"] for o in response["Contents"]] == BIG_KEYS[1000:1100]
    assert response["Prefix"] == "key-010"
    assert response["KeyCount"] == 100
    assert response["IsTruncated"] is False


def test_prefix_matching_nothing_is_an_empty_listing(big: tuple[Any, str]) -> None:
    s3, bucket = big
    response = s3.list_objects_v2(Bucket=bucket, Prefix="nothing-here")
    assert response["KeyCount"] == 0
    assert "Contents" not in response
    assert response["IsTruncated"] is False


def test_start_after_skips_up_to_and_including_that_key(big: tuple[Any, str]) -> None:
    s3, bucket = big
    response = s3.list_objects_v2(Bucket=bucket, StartAfter="key-01090")
    assert [o["Key"] for o in response["Contents"]] == BIG_KEYS[1091:]
    assert response["StartAfter"] == "key-01090"


def test_start_after_between_keys_and_past_the_end(big: tuple[Any, str]) -> None:
    s3, bucket = big
    between = s3.list_objects_v2(Bucket=bucket, StartAfter="key-01090a")
    assert [o["Key"] for o in between["Contents"]] == BIG_KEYS[1091:]
    past = s3.list_objects_v2(Bucket=bucket, StartAfter="zzz")
    assert past["KeyCount"] == 0


def test_start_after_with_paginator_continues_from_there(big: tuple[Any, str]) -> None:
    s3, bucket = big
    pages = _pages(s3, "list_objects_v2", Bucket=bucket, StartAfter="key-00050",
                   PaginationConfig={"PageSize": 500})
    assert [page["KeyCount"] for page in pages] == [500, 500, 49]
    assert _contents(pages) == BIG_KEYS[51:]


def test_max_keys_zero_returns_no_keys(big: tuple[Any, str]) -> None:
    s3, bucket = big
    response = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert response["KeyCount"] == 0
    assert "Contents" not in response
    assert response["MaxKeys"] == 0
    assert response["IsTruncated"] is False


def test_max_keys_above_1000_is_capped_at_1000(big: tuple[Any, str]) -> None:
    s3, bucket = big
    response = s3.list_objects_v2(Bucket=bucket, MaxKeys=5000)
    assert response["KeyCount"] == 1000
    assert len(response["Contents"]) == 1000
    assert response["IsTruncated"] is True


def test_max_keys_small_truncates_and_token_continues(big: tuple[Any, str]) -> None:
    s3, bucket = big
    first = s3.list_objects_v2(Bucket=bucket, MaxKeys=3)
    assert [o["Key"] for o in first["Contents"]] == BIG_KEYS[:3]
    assert first["IsTruncated"] is True
    second = s3.list_objects_v2(Bucket=bucket, MaxKeys=3,
                                ContinuationToken=first["NextContinuationToken"])
    assert [o["Key"] for o in second["Contents"]] == BIG_KEYS[3:6]


def test_continuation_token_wins_over_start_after(big: tuple[Any, str]) -> None:
    s3, bucket = big
    first = s3.list_objects_v2(Bucket=bucket, MaxKeys=2)
    second = s3.list_objects_v2(Bucket=bucket, MaxKeys=2, StartAfter="key-01000",
                                ContinuationToken=first["NextContinuationToken"])
    assert [o["Key"] for o in second["Contents"]] == BIG_KEYS[2:4]


def test_fetch_owner_adds_owner_to_each_entry(big: tuple[Any, str]) -> None:
    s3, bucket = big
    response = s3.list_objects_v2(Bucket=bucket, MaxKeys=5, FetchOwner=True)
    owners = [o["Owner"] for o in response["Contents"]]
    assert len(owners) == 5
    assert all(owner.get("ID") for owner in owners)
    assert len({owner["ID"] for owner in owners}) == 1


@pytest.mark.parametrize("token", ["garbage", "AAAA", "%%%"])
def test_garbage_continuation_token_is_invalid_argument(big: tuple[Any, str],
                                                        token: str) -> None:
    s3, bucket = big
    expect_error("InvalidArgument", 400, s3.list_objects_v2, Bucket=bucket,
                 ContinuationToken=token)


# ListObjects (v1) over 1,100 keys

def test_v1_paginator_returns_all_keys_in_order(big: tuple[Any, str]) -> None:
    s3, bucket = big
    pages = _pages(s3, "list_objects", Bucket=bucket)
    assert [len(page["Contents"]) for page in pages] == [1000, 100]
    assert [page["IsTruncated"] for page in pages] == [True, False]
    assert _contents(pages) == BIG_KEYS


def test_v1_paginator_with_page_size(big: tuple[Any, str]) -> None:
    s3, bucket = big
    pages = _pages(s3, "list_objects", Bucket=bucket, PaginationConfig={"PageSize": 250})
    assert [len(page["Contents"]) for page in pages] == [250, 250, 250, 250, 100]
    assert _contents(pages) == BIG_KEYS


def test_v1_marker_continues_after_the_given_key(big: tuple[Any, str]) -> None:
    s3, bucket = big
    first = s3.list_objects(Bucket=bucket, MaxKeys=10)
    assert first["IsTruncated"] is True
    assert [o["Key"] for o in first["Contents"]] == BIG_KEYS[:10]
    # Without a delimiter S3 sends no NextMarker: clients continue from the last key.
    assert "NextMarker" not in first
    second = s3.list_objects(Bucket=bucket, MaxKeys=10, Marker=first["Contents"][-1]["Key"])
    assert second["Marker"] == BIG_KEYS[9]
    assert [o["Key"] for o in second["Contents"]] == BIG_KEYS[10:20]


def test_v1_lists_owner_by_default(big: tuple[Any, str]) -> None:
    s3, bucket = big
    entry = s3.list_objects(Bucket=bucket, MaxKeys=1)["Contents"][0]
    assert entry["Owner"].get("ID")


# delimiters

def test_delimiter_groups_keys_into_common_prefixes(s3: Any, tree: str) -> None:
    response = s3.list_objects_v2(Bucket=tree, Delimiter="/")
    plain, prefixes = _delimited(TREE, "/")
    assert [o["Key"] for o in response["Contents"]] == plain
    assert [p["Prefix"] for p in response["CommonPrefixes"]] == prefixes
    assert response["KeyCount"] == len(plain) + len(prefixes)
    assert response["Delimiter"] == "/"


def test_delimiter_with_prefix_lists_one_level_down(s3: Any, tree: str) -> None:
    response = s3.list_objects_v2(Bucket=tree, Delimiter="/", Prefix="d/")
    assert [o["Key"] for o in response["Contents"]] == ["d/y"]
    assert [p["Prefix"] for p in response["CommonPrefixes"]] == ["d/x/"]
    assert response["Prefix"] == "d/"
    response = s3.list_objects_v2(Bucket=tree, Delimiter="/", Prefix="l/")
    assert [o["Key"] for o in response["Contents"]] == ["l/1"]
    assert [p["Prefix"] for p in response["CommonPrefixes"]] == ["l/2/"]


def test_key_equal_to_its_own_prefix_is_listed_under_it(s3: Any, tree: str) -> None:
    response = s3.list_objects_v2(Bucket=tree, Delimiter="/", Prefix="f/")
    assert [o["Key"] for o in response["Contents"]] == ["f/", "f/g"]
    assert "CommonPrefixes" not in response


@pytest.mark.parametrize("page_size", [1, 2, 3, 4, 5])
def test_delimiter_pagination_loses_and_repeats_nothing(s3: Any, tree: str,
                                                         page_size: int) -> None:
    pages = _pages(s3, "list_objects_v2", Bucket=tree, Delimiter="/",
                   PaginationConfig={"PageSize": page_size})
    plain, prefixes = _delimited(TREE, "/")
    assert _contents(pages) == plain
    assert _common_prefixes(pages) == prefixes
    assert all(page["KeyCount"] <= page_size for page in pages)
    assert sum(page["KeyCount"] for page in pages) == len(plain) + len(prefixes)
    assert [page["IsTruncated"] for page in pages] == [True] * (len(pages) - 1) + [False]


def test_page_ending_on_a_common_prefix_resumes_after_that_prefix(s3: Any, tree: str) -> None:
    # The first two entries are "a" and "b/": the page ends on a prefix with more keys below.
    first = s3.list_objects_v2(Bucket=tree, Delimiter="/", MaxKeys=2)
    assert [o["Key"] for o in first["Contents"]] == ["a"]
    assert [p["Prefix"] for p in first["CommonPrefixes"]] == ["b/"]
    second = s3.list_objects_v2(Bucket=tree, Delimiter="/", MaxKeys=2,
                                ContinuationToken=first["NextContinuationToken"])
    assert [o["Key"] for o in second["Contents"]] == ["c"]
    assert [p["Prefix"] for p in second["CommonPrefixes"]] == ["d/"]


def test_delimiter_on_big_bucket_without_separator_returns_plain_keys(
        big: tuple[Any, str]) -> None:
    s3, bucket = big
    pages = _pages(s3, "list_objects_v2", Bucket=bucket, Delimiter="/")
    assert _contents(pages) == BIG_KEYS
    assert _common_prefixes(pages) == []


def test_multi_character_delimiter(s3: Any, bucket: str) -> None:
    keys = ["x--1", "x--2", "y", "z--q--r"]
    _put_all(s3, bucket, keys)
    response = s3.list_objects_v2(Bucket=bucket, Delimiter="--")
    assert [o["Key"] for o in response["Contents"]] == ["y"]
    assert [p["Prefix"] for p in response["CommonPrefixes"]] == ["x--", "z--"]


@pytest.mark.parametrize("page_size", [1, 2, 3, 1000])
def test_v1_paginator_with_delimiter_uses_next_marker(s3: Any, tree: str,
                                                      page_size: int) -> None:
    pages = _pages(s3, "list_objects", Bucket=tree, Delimiter="/",
                   PaginationConfig={"PageSize": page_size})
    plain, prefixes = _delimited(TREE, "/")
    assert _contents(pages) == plain
    assert _common_prefixes(pages) == prefixes
    for page in pages[:-1]:
        assert page["IsTruncated"] is True
        last = max([o["Key"] for o in page.get("Contents", [])]
                   + [p["Prefix"] for p in page.get("CommonPrefixes", [])])
        assert page["NextMarker"] == last
    assert pages[-1]["IsTruncated"] is False


# url encoding (botocore asks for encoding-type=url itself and decodes what comes back, unless
# the caller passes EncodingType, in which case the caller gets the encoded values)

@pytest.fixture
def encoded(s3: Any, bucket: str) -> str:
    _put_all(s3, bucket, ENCODED_KEYS)
    return bucket


def _utf8_sorted(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode())


def test_url_encoded_listing_decodes_to_the_original_keys(s3: Any, encoded: str) -> None:
    response = s3.list_objects_v2(Bucket=encoded)
    assert response["EncodingType"] == "url"
    assert [o["Key"] for o in response["Contents"]] == _utf8_sorted(ENCODED_KEYS)


def test_url_encoded_prefix_delimiter_and_start_after_round_trip(s3: Any, encoded: str) -> None:
    response = s3.list_objects_v2(Bucket=encoded, Delimiter="/")
    plain, prefixes = _delimited(ENCODED_KEYS, "/")
    assert [o["Key"] for o in response["Contents"]] == plain
    assert [p["Prefix"] for p in response["CommonPrefixes"]] == prefixes
    assert response["Delimiter"] == "/"

    under = s3.list_objects_v2(Bucket=encoded, Prefix="a+b c/")
    assert under["Prefix"] == "a+b c/"
    assert [o["Key"] for o in under["Contents"]] == ["a+b c/d e"]

    after = s3.list_objects_v2(Bucket=encoded, StartAfter="plus+sign")
    assert after["StartAfter"] == "plus+sign"
    assert [o["Key"] for o in after["Contents"]] == _utf8_sorted(
        [k for k in ENCODED_KEYS if k.encode() > b"plus+sign"])


def test_url_encoded_paginated_listing(s3: Any, encoded: str) -> None:
    pages = _pages(s3, "list_objects_v2", Bucket=encoded, PaginationConfig={"PageSize": 2})
    assert _contents(pages) == _utf8_sorted(ENCODED_KEYS)


def test_explicit_url_encoding_returns_percent_encoded_keys(s3: Any, encoded: str) -> None:
    response = s3.list_objects_v2(Bucket=encoded, EncodingType="url")
    assert response["EncodingType"] == "url"
    raw = [o["Key"] for o in response["Contents"]]
    # Decoded with unquote, never unquote_plus: a `+` in a key travels as %2B.
    assert [unquote(k) for k in raw] == _utf8_sorted(ENCODED_KEYS)
    assert all(k.isascii() and " " not in k and "+" not in k for k in raw), raw


def test_v1_url_encoded_listing_decodes_keys_and_markers(s3: Any, encoded: str) -> None:
    pages = _pages(s3, "list_objects", Bucket=encoded, Delimiter="/",
                   PaginationConfig={"PageSize": 2})
    plain, prefixes = _delimited(ENCODED_KEYS, "/")
    assert _contents(pages) == plain
    assert _common_prefixes(pages) == prefixes
    assert all(page["EncodingType"] == "url" for page in pages)


def test_keys_list_in_utf8_byte_order(s3: Any, bucket: str) -> None:
    keys = ["Z", "a", "é", "z", "日", "😀", "\u00ff", "~"]
    _put_all(s3, bucket, keys)
    assert list_keys(s3, bucket) == sorted(keys, key=lambda k: k.encode())


# errors

def test_list_missing_bucket_is_no_such_bucket(s3: Any) -> None:
    name = f"nb-{uuid.uuid4().hex[:16]}"
    expect_error("NoSuchBucket", 404, s3.list_objects_v2, Bucket=name)
    expect_error("NoSuchBucket", 404, s3.list_objects, Bucket=name)
