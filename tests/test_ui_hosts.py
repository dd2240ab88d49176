"""The page answers only Host names it is served under (against DNS rebinding): a real server on a
free loopback port, a scripted generator, plain HTTP requests with chosen Host headers."""

import http.client
import socket
from contextlib import contextmanager

import pytest

from assistant import AnswerConfig, StudyAssistant
from assistant.config import Config, ConfigError, UIConfig
from corpus import load_corpus
from fakes import ScriptedGenerator
from index import open_index
from ui.app import allowed_hosts, host_name


@pytest.fixture
def assistant(data_home, fake_encoder):
    index = open_index(load_corpus("seed"), data_home, encoder=fake_encoder, progress=False)
    return StudyAssistant(index, ScriptedGenerator("见资料 [1]。"), AnswerConfig())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(assistant, **ui):
    """The page launched on 127.0.0.1:<free port> for the block; yields the port."""
    from ui import build_app, launch

    config = UIConfig(port=free_port(), **ui)
    app = build_app(assistant, config)
    launch(app, config, block=False)
    try:
        yield config.port
    finally:
        app.close()


def get(port: int, host: str, path: str = "/") -> tuple[int, str]:
    """(status, body) of GET ``path`` from the server on ``port``, sent with ``Host: host``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def test_page_answers_its_own_address_and_local_names_only(assistant):
    with serving(assistant) as port:
        assert get(port, f"127.0.0.1:{port}")[0] == 200
        assert get(port, "localhost")[0] == 200
        assert get(port, f"LocalHost:{port}")[0] == 200
        assert get(port, f"[::1]:{port}")[0] == 200
        status, body = get(port, "evil.example")
        assert status == 400 and body.startswith("Unknown Host header") and "allowed_hosts" in body
        assert get(port, f"evil.example:{port}")[0] == 400
        assert get(port, "evil.example", "/config")[0] == 400  # the API too, not only the page
        assert get(port, "127.0.0.1.evil.example")[0] == 400


def test_allowed_hosts_adds_names(assistant):
    with serving(assistant, allowed_hosts=("study.lan",)) as port:
        assert get(port, "study.lan")[0] == 200
        assert get(port, f"Study.LAN:{port}")[0] == 200
        assert get(port, f"127.0.0.1:{port}")[0] == 200
        assert get(port, "evil.example")[0] == 400


def test_host_names_without_port():
    assert host_name("Localhost:7860") == "localhost"
    assert host_name("[::1]:7860") == host_name("::1") == host_name("[::1]") == "[::1]"
    assert host_name("study.lan") == "study.lan"
    assert host_name("") == ""


def test_allowed_hosts_by_binding():
    assert allowed_hosts(UIConfig()) == {"127.0.0.1", "localhost", "[::1]"}
    assert allowed_hosts(UIConfig(host="192.168.1.5")) == {"192.168.1.5", "127.0.0.1", "localhost", "[::1]"}
    assert allowed_hosts(UIConfig(host="::1")) == {"127.0.0.1", "localhost", "[::1]"}
    assert allowed_hosts(UIConfig(host="0.0.0.0")) is None  # all interfaces: any Host
    assert allowed_hosts(UIConfig(host="::")) is None
    assert "study.lan" in allowed_hosts(UIConfig(host="0.0.0.0", allowed_hosts=("Study.lan:7860",)))
    assert allowed_hosts(UIConfig(share=True)) is None  # a share link arrives with the tunnel's Host


def test_allowed_hosts_setting_is_checked():
    assert UIConfig(allowed_hosts=["study.lan"]).allowed_hosts == ("study.lan",)
    assert Config.from_dict({"ui": {"allowed_hosts": ["study.lan"]}}).ui.allowed_hosts == ("study.lan",)
    with pytest.raises(ValueError, match="allowed_hosts should be a list of host names, got"):
        UIConfig(allowed_hosts=("study.lan", " "))
    with pytest.raises(ValueError, match="allowed_hosts"):
        UIConfig(allowed_hosts="study.lan")
    with pytest.raises(ConfigError, match="allowed_hosts"):
        Config.from_dict({"ui": {"allowed_hosts": [5]}})
