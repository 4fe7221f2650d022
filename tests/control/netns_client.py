"""A client on "another machine": run inside a second network namespace by test_server_remote.py.

    ip netns exec NS python -m tests.control.netns_client http://ADDR:PORT TOKEN [--browser]

Sends the honest and the spoofed requests, opens the dock's WebSocket and (with --browser) drives the dock
page in headless Chromium started inside the namespace; prints what came back as one JSON object.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import shutil
import sys
import tempfile
import time
from typing import Any
from urllib.parse import urlsplit


def request(address: str, method: str, path: str, host: str, token: str | None) -> tuple[int, str]:
    """One HTTP request with exactly this Host header (http.client lets a client lie about it)."""
    parts = urlsplit(address)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=15)
    try:
        conn.putrequest(method, path, skip_host=True)
        conn.putheader("Host", host)
        if token is not None:
            conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("Content-Length", "0")
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def websocket(address: str, token: str) -> dict[str, Any]:
    import websockets

    async def go() -> dict[str, Any]:
        url = address.replace("http://", "ws://").rstrip("/") + "/ws"
        async with websockets.connect(url, proxy=None, open_timeout=15) as ws:
            await ws.send(json.dumps({"token": token}))
            first: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 15))
            return first

    return asyncio.run(go())


def browser(address: str, token: str) -> dict[str, Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"
    profile = tempfile.mkdtemp(prefix="live2diff-netns-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--no-proxy-server"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "chromedriver"))
    try:
        driver.get(f"{address}#token={token}")
        deadline = time.monotonic() + 30
        while "up" not in (driver.find_element(By.ID, "conn").get_attribute("class") or ""):
            if time.monotonic() > deadline:
                return {"connected": False}
            time.sleep(0.1)
        url = driver.current_url
        driver.find_element(By.CSS_SELECTOR, '#styles button[data-style="oil painting"]').click()
        while driver.find_element(By.ID, "style").text != "oil painting":
            if time.monotonic() > deadline:
                return {"connected": True, "switched": False, "url": url}
            time.sleep(0.1)
        return {"connected": True, "switched": True, "url": url}
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main(argv: list[str]) -> int:
    address, token = argv[0], argv[1]
    parts = urlsplit(address)
    port = parts.port
    ours = f"{parts.hostname}:{port}"
    out: dict[str, Any] = {
        "page": request(address, "GET", "/", ours, None),
        "status_no_token": request(address, "GET", "/status", ours, None)[0],
        "status": request(address, "GET", "/status", ours, token)[0],
        "style": request(address, "POST", "/style/sketch", ours, token),
        "spoofed_loopback": request(address, "POST", "/style/anime", f"127.0.0.1:{port}", token),
        "spoofed_localhost_page": request(address, "GET", "/", f"localhost:{port}", None)[0],
        "foreign_host": request(address, "POST", "/style/anime", f"evil.example:{port}", token)[0],
        "allowed_name": request(address, "GET", "/status", f"stream-pc.test:{port}", token)[0],
        "websocket": websocket(address, token)["type"],
    }
    if "--browser" in argv:
        out["browser"] = browser(address, token)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
