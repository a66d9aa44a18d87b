"""The multipart $batch wire format: what we build, and parsing answers robustly."""
from __future__ import annotations

import json

import pytest

from core.odata import Part, build_multipart, parse_multipart


class TestBuild:
    def test_one_part_per_request_with_its_own_condition(self) -> None:
        parts = [
            Part("PATCH", "https://h/api/data/v9.2/accounts(1)", {"If-Match": 'W/"5"'}, {"name": "A"}),
            Part("DELETE", "https://h/api/data/v9.2/accounts(2)", {"If-Match": 'W/"6"'}),
        ]
        content_type, body = build_multipart(parts)
        boundary = content_type.split("boundary=")[1]
        text = body.decode()
        assert content_type.startswith("multipart/mixed; boundary=batch_")
        assert text.count(f"--{boundary}\r\n") == 2 and text.endswith(f"--{boundary}--\r\n")
        assert "PATCH https://h/api/data/v9.2/accounts(1) HTTP/1.1\r\n" in text
        assert 'If-Match: W/"5"' in text and 'If-Match: W/"6"' in text
        assert "Content-Type: application/json; type=entry\r\n\r\n{\"name\":\"A\"}" in text
        assert "changeset" not in text  # each op stands alone under continue-on-error

    def test_boundary_is_deterministic(self) -> None:
        parts = [Part("DELETE", "https://h/x(1)", {"If-Match": "a"})]
        assert build_multipart(parts) == build_multipart(parts)


def answer(sep: str, boundary: str = "batchresponse_1") -> bytes:
    body = json.dumps({"accountid": "1", "@odata.etag": 'W/"7"'})
    error = json.dumps({"error": {"code": "0x80060882", "message": "stale"}})
    chunks = [
        f"--{boundary}", "Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
        "HTTP/1.1 200 OK", "Content-Type: application/json; odata.metadata=minimal", 'ETag: W/"7"', "", body,
        f"--{boundary}", "Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
        "HTTP/1.1 412 Precondition Failed", "Content-Type: application/json", "", error,
        f"--{boundary}", "Content-Type: application/http", "", "HTTP/1.1 204 No Content", "OData-Version: 4.0", "",
        "", f"--{boundary}--", "",
    ]
    return sep.join(chunks).encode()


class TestParse:
    @pytest.mark.parametrize("sep", ["\r\n", "\n"], ids=["crlf", "lf"])
    def test_statuses_headers_and_bodies_in_order(self, sep: str) -> None:
        parts = parse_multipart('multipart/mixed; boundary="batchresponse_1"', answer(sep))
        assert [p.status for p in parts] == [200, 412, 204]
        assert parts[0].json() == {"accountid": "1", "@odata.etag": 'W/"7"'}
        assert parts[0].headers["ETag"] == 'W/"7"'
        assert parts[1].json()["error"]["code"] == "0x80060882"
        assert parts[2].body.strip() == b"" and parts[2].json() is None

    def test_changesets_are_flattened(self) -> None:
        inner = ("--changesetresponse_9\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n"
                 "--changesetresponse_9\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 201 Created\r\n\r\n{}\r\n"
                 "--changesetresponse_9--")
        body = (f"preamble\r\n--b1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_9\r\n\r\n{inner}\r\n"
                "--b1\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 404 Not Found\r\n\r\n\r\n--b1--\r\n")
        assert [p.status for p in parse_multipart("multipart/mixed; boundary=b1", body.encode())] == [204, 201, 404]

    def test_missing_close_delimiter_still_parses(self) -> None:
        body = b"--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
        assert [p.status for p in parse_multipart("multipart/mixed; boundary=b", body)] == [204]

    def test_no_boundary_raises(self) -> None:
        with pytest.raises(ValueError):
            parse_multipart("application/json", b"{}")
