"""Drives the trainer's web console in a real headless Chromium (selenium + chromedriver), for
tests/console_browser.rs, which starts the servers, the run and the data, and checks the registry
and the predictor around each step.

Usage: browser_check.py STEP URL [ARGS...]; prints one JSON object with what it saw, exits non-zero
with the reason when a check fails.
  live URL                   the runs page shows the running run, its epoch advances without a
                             reload, then its outcome; the browser console has no errors
  run URL RUN_ID             every <img> on the run page loaded (natural width > 0), curves drawn
  model URL SYMBOL YEARS VID the model page shows VID as current with its quality numbers
  rollback URL SYMBOL YEARS VID TOKEN [SHOT]
                             "Make current" for VID without the token is refused; after signing in
                             with TOKEN it succeeds; SHOT: save a screenshot of the model page
  escaped URL RUN_ID         the run's stored error is shown as text: no script ran, no markup made
  screenshot URL PATH        a screenshot of the runs page
"""
import json
import re
import sys
import time

from selenium import webdriver
from selenium.webdriver.common.by import By


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"), options=opts)


def fail(msg):
    print(json.dumps({"ok": False, "error": msg}))
    sys.exit(1)


def console_errors(d):
    return [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]


def wait(what, pred, timeout=180, every=0.2):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(every)
    fail(f"timed out waiting for {what}")


def rows(d):
    """The runs table's cells, read in one script call (the table is refreshed every second)."""
    return d.execute_script(
        "return Array.from(document.querySelectorAll('#runs-body tr')).map(tr => Array.from(tr.cells).map(td => td.textContent));"
    )


def live(d, url):
    d.get(url + "/")
    marker = d.execute_script("window.__noReload = 1; return window.__noReload;")

    def epoch():
        for cells in rows(d):
            if len(cells) >= 6 and cells[4] == "running":
                m = re.search(r"epoch (\d+)/", cells[5])
                if m:
                    return int(m.group(1))
        return None

    first = wait("a running run with an epoch on the runs page", epoch)
    later = wait("the epoch to advance without a reload", lambda: (e := epoch()) is not None and e > first and e)
    if d.execute_script("return window.__noReload;") != marker:
        fail("the page was reloaded")

    def outcome():
        for cells in rows(d):
            if len(cells) >= 8 and cells[4] in ("succeeded", "failed") and cells[7]:
                return cells
        return None

    cells = wait("the run's outcome on the runs page", outcome)
    if d.execute_script("return window.__noReload;") != marker:
        fail("the page was reloaded")
    errors = console_errors(d)
    if errors:
        fail(f"browser console errors: {errors}")
    return {"first_epoch": first, "later_epoch": later, "state": cells[4], "outcome": cells[7]}


def run(d, url, run_id):
    d.get(f"{url}/runs/{run_id}")
    imgs = d.find_elements(By.TAG_NAME, "img")
    if not imgs:
        fail("the run page shows no plots")
    wait("every image to load", lambda: all(d.execute_script("return arguments[0].complete", i) for i in imgs), timeout=30)
    widths = [d.execute_script("return arguments[0].naturalWidth", i) for i in imgs]
    if not all(w > 0 for w in widths):
        fail(f"an image did not load: natural widths {widths}")
    if not d.find_elements(By.CSS_SELECTOR, "#curves polyline"):
        fail("no loss curves drawn")
    events = len(d.find_elements(By.CSS_SELECTOR, "#events tbody tr"))
    errors = console_errors(d)
    if errors:
        fail(f"browser console errors: {errors}")
    return {"images": len(imgs), "natural_widths": widths, "events": events}


def model(d, url, symbol, years, vid):
    d.get(f"{url}/models/{symbol}/{years}")
    current = d.find_element(By.ID, "current").text
    if current != vid:
        fail(f"current version shown {current!r}, expected {vid!r}")
    row = d.find_element(By.CSS_SELECTOR, f"tr[data-version-id='{vid}']")
    brier = row.find_element(By.CSS_SELECTOR, "td.holdout-brier").text
    if not re.match(r"^\d+\.\d+$", brier):
        fail(f"no holdout Brier shown for the current version: {brier!r}")
    errors = console_errors(d)
    if errors:
        fail(f"browser console errors: {errors}")
    return {"current": current, "holdout_brier": float(brier)}


def make_current(d, url, symbol, years, vid):
    seen = []
    for _ in range(5):
        d.get(f"{url}/models/{symbol}/{years}")
        rows_found = d.find_elements(By.CSS_SELECTOR, f"tr[data-version-id='{vid}'] button.make-current")
        if rows_found:
            rows_found[0].click()
            return seen
        seen.append(d.find_element(By.TAG_NAME, "body").text[:400])
        time.sleep(0.5)
    fail(f"no 'Make current' for {vid} on the model page after 5 loads; the pages said: {seen}")


def rollback(d, url, symbol, years, vid, token, shot=None):
    # Read in one script call each: an element found before a navigation ends goes stale.
    body = lambda: d.execute_script("return document.body ? document.body.innerText : '';")
    retries = make_current(d, url, symbol, years, vid)
    # Each form submission navigates: wait for its answer before the next step (a get() issued
    # while it is still loading can be overtaken by it).
    wait("the refusal page", lambda: d.current_url.endswith("/current") and "Forbidden" in body(), timeout=15)
    refused = body()
    if "bearer token" not in refused:
        fail(f"setting the current version without the token was not refused: {refused[:300]}")
    d.get(f"{url}/login")
    d.find_element(By.ID, "token").send_keys("not-the-token")
    d.find_element(By.ID, "sign-in").click()
    wait("the wrong token's answer", lambda: "not the server's token" in body() or d.current_url.rstrip("/") == url, timeout=15)
    if "not the server's token" not in body():
        fail("a wrong token was accepted")
    d.get(f"{url}/login")
    d.find_element(By.ID, "token").send_keys(token)
    d.find_element(By.ID, "sign-in").click()
    wait("the sign-in to land on the runs page", lambda: d.current_url.rstrip("/") == url, timeout=15)
    retries += make_current(d, url, symbol, years, vid)
    shown = lambda: d.execute_script("const e = document.getElementById('current'); return e ? e.textContent : null;")
    current = wait("the new current version on the model page", lambda: shown() == vid, timeout=10)
    if token in d.current_url:
        fail("the token appeared in a URL")
    if shot:
        d.save_screenshot(shot)
    return {"refused": refused.splitlines()[1] if "\n" in refused else refused, "current": vid if current else None,
            "reloads_needed": retries}


def escaped(d, url, run_id):
    d.get(f"{url}/runs/{run_id}")
    cell = d.find_element(By.ID, "run-error")
    shown = cell.text
    if "<script>" not in cell.text:
        fail(f"the stored error is not shown as text: {cell.text!r}")
    if d.execute_script("return window.__xss") is not None:
        fail("a script from stored text ran")
    if cell.find_elements(By.TAG_NAME, "b") or cell.find_elements(By.TAG_NAME, "script"):
        fail("stored text became markup")
    d.get(f"{url}/")
    time.sleep(1.5)  # one refresh of the table from /api/runs
    if d.execute_script("return window.__xss") is not None:
        fail("a script from stored text ran on the runs page")
    if "<script>" not in " ".join(" ".join(r) for r in rows(d)):
        fail("the runs page does not show the stored error as text")
    return {"shown": shown}


def screenshot(d, url, path):
    d.get(url + "/")
    time.sleep(1.5)
    d.save_screenshot(path)
    return {"path": path}


def main():
    step, url, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    d = browser()
    try:
        out = {"live": live, "run": run, "model": model, "rollback": rollback, "escaped": escaped, "screenshot": screenshot}[step](d, url, *args)
    finally:
        d.quit()
    print(json.dumps({"ok": True, **out}))


if __name__ == "__main__":
    main()
