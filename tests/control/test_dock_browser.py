"""The dock page in headless Chromium (Debian chromium + chromedriver) against a real control server.

Clicking a style button switches the style (checked on the bus consumer and /status), and the
telemetry on the page follows the pushed state. The token bootstrap: the dock URL `run` prints
(``/#token=T``, what one pastes into OBS) connects and leaves no token in the address bar; the
plain page asks for the token and takes a pasted URL; a refused token is asked for again.
Against a real running show (tiny engine process):
the preview shows the show's own output frames and they change; state, rates, frame counts, the
held fader and engine restarts read as /status has them; no key labels for hotkeys that are not
live; the prompt box edits the style on air, bad values are refused with the reason, Save writes
the profile with its comments. Skipped when Chromium is missing, except in CI
(CI=true), where a missing browser is a failure. LIVE2DIFF_SAVE_SCREENSHOTS=1 writes
docs/img/dock.png (the README's picture) from the running show.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from live2diff_broadcast.config import load_profile
from live2diff_broadcast.control import ControlBus
from live2diff_broadcast.control.actions import BlendStyles, SetLoraWeight
from live2diff_broadcast.control.dock import dock_controls
from live2diff_broadcast.control.protocol import parse_command
from live2diff_broadcast.control.server import ControlServer
from tests.runtime.harness import Show

from .consumer import STYLES, Consumer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "dock.png"

if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("chromium / chromedriver missing in CI: apt-get install chromium chromium-driver", pytrace=False)
    pytest.skip("chromium / chromedriver not installed (apt-get install chromium chromium-driver)", allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402


@pytest.fixture
def show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ControlServer, Consumer]]:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    bus = ControlBus()
    consumer = Consumer(bus)
    controls = {"styles": [{"name": s, "hotkey": f"ctrl+alt+{i + 1}"} for i, s in enumerate(STYLES)],
                "hotkeys": {"next_style": "ctrl+alt+right", "previous_style": "ctrl+alt+left",
                            "passthrough": "ctrl+alt+p", "rewarm": "ctrl+alt+r"}}
    srv = ControlServer(bus, consumer.live_status, port=0, controls=lambda: controls)
    srv.start()
    yield srv, consumer
    srv.stop()
    consumer.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="live2diff-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                 "--no-proxy-server"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        driver.set_window_size(380, 560)  # about a docked panel's size
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_until(what: str, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def connected(browser: Any) -> bool:
    return "up" in (browser.find_element(By.ID, "conn").get_attribute("class") or "")


def test_dock_switches_styles_and_shows_live_telemetry(show: tuple[ControlServer, Consumer], browser: Any) -> None:
    srv, consumer = show
    browser.get(srv.dock_url)
    buttons = wait_until("style buttons", lambda: browser.find_elements(By.CSS_SELECTOR, "#styles button"))
    assert [b.get_attribute("data-style") for b in buttons] == STYLES
    assert "ctrl+alt+3" in buttons[2].text
    wait_until("the connection", lambda: "up" in (browser.find_element(By.ID, "conn").get_attribute("class") or ""))

    browser.find_element(By.CSS_SELECTOR, '#styles button[data-style="sketch"]').click()
    wait_until("the switch on the bus", lambda: consumer.selector.target == "sketch")
    assert consumer.seen[-1].name == "sketch" and consumer.seen[-1].origin == "server"
    wait_until("the page to show the new style", lambda: browser.find_element(By.ID, "style").text == "sketch")
    current = browser.find_element(By.CSS_SELECTOR, "#styles button.current")
    assert current.get_attribute("data-style") == "sketch"

    browser.find_element(By.ID, "next").click()
    wait_until("next style", lambda: consumer.selector.target == "anime")
    browser.find_element(By.ID, "passthrough").click()
    wait_until("passthrough", lambda: consumer.passthrough)

    assert browser.find_element(By.ID, "backend").text == "pytorch"
    seen = {browser.find_element(By.ID, "fps").text}
    wait_until("fps to update (pushed)", lambda: seen.add(browser.find_element(By.ID, "fps").text) or len(seen) >= 3)
    assert all(v.replace(".", "").isdigit() for v in seen), seen
    assert browser.find_element(By.ID, "p95").text == "61"
    frames = [browser.find_element(By.ID, name).text for name in ("frames-held", "frames-pt", "hold")]
    assert frames == ["300", "42", "1.25"]  # held, passthrough + no-signal, the longest hold in s
    assert int(browser.find_element(By.ID, "frames-live").text) > 100
    sinks = browser.find_element(By.ID, "sinks").text  # each sink's count, and which one is failing
    assert sinks.startswith("sinks[0] virtualcam RETRYING 0 (missed 12); sinks[1] file 'rec' "), sinks

    browser.find_element(By.ID, "passthrough").click()
    browser.find_element(By.CSS_SELECTOR, '#styles button[data-style="oil painting"]').click()
    wait_until("oil painting on the page", lambda: browser.find_element(By.ID, "style").text == "oil painting")
    assert not consumer.passthrough


def _drag(browser: Any, element: Any, value: float) -> None:
    """What a drag does to a range input: a few input events, then change on release."""
    browser.execute_script(
        "const e = arguments[0]; for (const v of [0.1, 0.3, arguments[1]]) { e.value = v; e.dispatchEvent(new Event('input')); }"
        " e.dispatchEvent(new Event('change'));", element, value)


def test_dock_faders_send_blend_and_lora_commands(show: tuple[ControlServer, Consumer], browser: Any) -> None:
    srv, consumer = show
    browser.get(srv.dock_url)
    wait_until("the connection", lambda: "up" in (browser.find_element(By.ID, "conn").get_attribute("class") or ""))
    rows = wait_until("a fader per LoRA", lambda: browser.find_elements(By.CSS_SELECTOR, "#loras .fader"))
    assert [r.get_attribute("data-lora") for r in rows] == ["ink", "paint 'wash'"]
    assert rows[1].find_element(By.TAG_NAME, "input").get_attribute("value") == "0.3"  # the engine's weight

    browser.execute_script("document.getElementById('blend-a').value = 'oil painting';"
                           "document.getElementById('blend-b').value = 'sketch';")
    _drag(browser, browser.find_element(By.ID, "blend-t"), 0.75)
    last = wait_until("the blend at 0.75", lambda: [a for a in consumer.seen if isinstance(a, BlendStyles) and a.t == 0.75])
    assert (last[-1].a, last[-1].b, last[-1].origin) == ("oil painting", "sketch", "server")
    blends = [a for a in consumer.seen if isinstance(a, BlendStyles)]
    assert len(blends) <= 3  # throttled: not one command per input event plus the release
    assert browser.find_element(By.ID, "blend-t-out").text == "0.75"

    _drag(browser, rows[1].find_element(By.TAG_NAME, "input"), 0.6)
    moved = wait_until("the LoRA at 0.6", lambda: [a for a in consumer.seen if isinstance(a, SetLoraWeight) and a.weight == 0.6])
    assert moved[-1].name == "paint 'wash'"  # quoted through the command line and back


def test_the_dock_url_connects_and_leaves_no_token_behind(show: tuple[ControlServer, Consumer], browser: Any) -> None:
    """What an OBS Custom Browser Dock does with the one pasted URL; the token leaves the address bar at once."""
    srv, consumer = show
    browser.get(srv.dock_url)
    wait_until("the connection", lambda: connected(browser))
    assert browser.current_url == srv.url and srv.token not in browser.execute_script("return location.href")
    assert srv.token not in browser.page_source
    assert browser.execute_script("return sessionStorage.getItem('live2diff.control-token')") == srv.token
    assert browser.find_element(By.ID, "token-box").get_attribute("hidden") is not None
    browser.refresh()  # a reload (OBS reloads docks) keeps the tab's token
    wait_until("the connection after a reload", lambda: connected(browser))
    browser.find_element(By.CSS_SELECTOR, '#styles button[data-style="sketch"]').click()
    wait_until("the switch", lambda: consumer.selector.target == "sketch")


def test_the_plain_page_asks_for_the_token(show: tuple[ControlServer, Consumer], browser: Any) -> None:
    """Issue 18.1: the plain page used to carry the token; now it asks. A wrong token is refused and asked again."""
    srv, consumer = show
    browser.get(srv.url)
    box = wait_until("the token prompt", lambda: browser.find_element(By.ID, "token-box").is_displayed()
                     and browser.find_element(By.ID, "token-box"))
    assert srv.token not in browser.page_source and not connected(browser)
    field = browser.find_element(By.ID, "token-input")
    field.send_keys("0" * 64)
    browser.find_element(By.CSS_SELECTOR, "#token-form button").click()
    wait_until("the refusal and a new prompt", lambda: box.is_displayed()
               and "refused" in browser.find_element(By.ID, "token-why").text)
    assert consumer.seen == []
    field.send_keys(srv.dock_url)  # the whole URL `run` printed is fine too
    browser.find_element(By.CSS_SELECTOR, "#token-form button").click()
    wait_until("the connection", lambda: connected(browser))
    assert not box.is_displayed()
    browser.find_element(By.ID, "next").click()
    wait_until("next style", lambda: consumer.selector.target == "oil painting")


# --- the dock of a real running show (tiny engine process, control server with the preview) --------------------

LIVE_PROFILE = """\
# the dock's show
[engine]
width = 64
height = 64
device = "cpu"
warmup = 2
window = 4

[[styles]]
name = "s0"
prompt = "anime"   # the dock edits this one
hotkey = "ctrl+alt+1"

[[styles]]
name = "s1"
prompt = "sketch"
"""


@pytest.fixture
def live_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Show, ControlServer, Path]]:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    path = tmp_path / "show.toml"
    path.write_text(LIVE_PROFILE)
    show = Show(load_profile(path, check_plugins=False), hold_s=60.0, profile_path=path)
    sup = show.sup
    srv = ControlServer(sup.controls, sup.status, port=0, controls=lambda: dock_controls(sup.profile, hotkeys_live=False),
                        preview=sup.preview_feeds())
    srv.start()
    try:
        show.wait_live()
        yield show, srv, path
    finally:
        srv.stop()
        show.stop()


def _picture(browser: Any) -> tuple[int, np.ndarray] | None:
    img = browser.find_element(By.ID, "preview-output")
    src, seq = img.get_attribute("src") or "", img.get_attribute("data-seq")
    if not src.startswith("data:image/jpeg;base64,") or seq is None:
        return None
    data = np.frombuffer(base64.b64decode(src.split(",", 1)[1]), np.uint8)
    return int(seq), cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_a_running_show_s_dock_shows_its_output_and_truthful_fields(live_show: tuple[Show, ControlServer, Path],
                                                                   browser: Any) -> None:
    show, srv, _ = live_show
    browser.get(srv.dock_url)
    wait_until("the connection", lambda: "up" in (browser.find_element(By.ID, "conn").get_attribute("class") or ""), 30)
    # the picture: a real output frame, and it changes
    first = wait_until("a preview picture", lambda: _picture(browser), 60)
    seq, image = first
    assert image.shape == (64, 64, 3)
    written = [f.image for f in show.sink.frames[-200:]]
    assert min(float(np.abs(image.astype(float) - w.astype(float)).mean()) for w in written) < 4.0  # JPEG of one of them
    # a newer picture that differs: one or more newer ones may be the same frame held (the constant-rate output
    # repeats the last engine frame while a slow engine works), so wait for the content to change, bounded
    wait_until("a newer, different picture", lambda: (p := _picture(browser)) is not None and p[0] > seq
               and not np.array_equal(p[1], image), 60)
    # truthful fields: state and rates as /status has them, no key labels for hotkeys that are not live
    assert [k.text for k in browser.find_elements(By.CSS_SELECTOR, "#styles kbd")] == ["", ""]
    assert browser.find_element(By.ID, "hk-next_style").text == ""
    status = show.sup.status()
    wait_until("the state", lambda: browser.find_element(By.ID, "state").text.lower() == status["state"].replace("_", " "))
    for _ in range(4):  # frames flow: the rate never reads 0.0 between two of them
        assert float(browser.find_element(By.ID, "engine-fps").text) > 0
        time.sleep(0.6)
    wait_until("the dock's engine fps = /status's", lambda: browser.find_element(By.ID, "engine-fps").text
               == f"{show.sup.status()['engine_fps']:.1f}")
    assert int(browser.find_element(By.ID, "frames-live").text) > 0
    # the blend position, pushed after a control from elsewhere
    assert show.sup.controls.post(parse_command("blend s0 s1 0.3")).result(timeout=30).ok  # type: ignore[arg-type]
    wait_until("the held fader", lambda: browser.find_element(By.ID, "blend-held").text == "held: s0 → s1 at 0.30")
    assert browser.find_element(By.ID, "blend-t").get_attribute("value") == "0.3"
    assert browser.find_element(By.ID, "blend-t-out").text == "0.30"
    if os.environ.get("LIVE2DIFF_SAVE_SCREENSHOTS") == "1":  # the README's picture: a running show's dock
        browser.set_window_size(380, 1060)
        time.sleep(1.0)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(SCREENSHOT))
    # restarts and hangs as the status line counts them: the engine process killed
    os.kill(show.sup.engine_pid, signal.SIGKILL)  # type: ignore[arg-type]
    wait_until("a restart on the dock", lambda: browser.find_element(By.ID, "restarts").text == "1", 120)
    assert show.sup.status()["engine_restarts"] == 1 and browser.find_element(By.ID, "hangs").text == "0"
    wait_until("no fader after the restart", lambda: browser.find_element(By.ID, "blend-held").text == "no fader held")


def type_into(element: Any, keys: str) -> None:
    """What a user does: click into the field, select all of it, type over it."""
    element.click()
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(keys)


def test_the_prompt_box_edits_the_style_on_air_and_saves_it(live_show: tuple[Show, ControlServer, Path],
                                                           browser: Any) -> None:
    show, srv, path = live_show
    browser.get(srv.dock_url)
    prompt = wait_until("the prompt box", lambda: (e := browser.find_element(By.ID, "prompt")).get_attribute("value")
                        == "anime" and e)
    assert browser.find_element(By.ID, "live-save").get_attribute("disabled") is not None  # nothing to save yet
    type_into(prompt, "a red fox in snow" + Keys.ENTER)
    wait_until("the prompt on air", lambda: show.sup.status()["params"]["prompt"] == "a red fox in snow", 30)
    wait_until("the edit marked", lambda: browser.find_element(By.ID, "live-edited").text == "edited: prompt (not saved)")
    # bad values: refused with the reason, nothing changes
    type_into(prompt, Keys.DELETE + Keys.ENTER)
    wait_until("the refusal", lambda: "prompt must be some text" in browser.find_element(By.ID, "msg").text)
    type_into(browser.find_element(By.ID, "seed"), "4.5" + Keys.ENTER)
    wait_until("the seed refusal", lambda: "seed must be a whole number" in browser.find_element(By.ID, "msg").text)
    assert show.sup.status()["params"]["prompt"] == "a red fox in snow" and show.sup.status()["params"]["seed"] == 42
    _drag(browser, browser.find_element(By.ID, "guidance"), 1.5)
    wait_until("guidance on air", lambda: show.sup.status()["params"]["guidance"] == 1.5, 30)
    # save: into the file, comments kept
    wait_until("save enabled", lambda: browser.find_element(By.ID, "live-save").get_attribute("disabled") is None)
    browser.find_element(By.ID, "live-save").click()
    wait_until("saved", lambda: "saved to" in browser.find_element(By.ID, "msg").text, 30)
    text = path.read_text()
    assert 'prompt = "a red fox in snow"   # the dock edits this one' in text and "guidance = 1.5" in text
    assert "# the dock's show" in text
    wait_until("no edits left", lambda: browser.find_element(By.ID, "live-edited").text == "")
