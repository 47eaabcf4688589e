"""The servers' own metrics as the bench reads them: recorded /metrics of both servers (after 3
good predictions and 1 unknown model over HTTP) parse to the same figures, and the difference of
two scrapes gives requests answered and µs per request of each phase."""

import os

import pytest

from bench.run import scrape

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def recorded(server, text=None):
    if text is None:
        with open(os.path.join(FIXTURES, "metrics_%s.txt" % server), encoding="utf-8") as fh:
            text = fh.read()
    original = scrape.urllib.request.urlopen

    class Answer:
        def __init__(self, text):
            self.text = text

        def read(self):
            return self.text.encode()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    scrape.urllib.request.urlopen = lambda url, timeout, context=None: Answer(text)
    try:
        return scrape.scrape("recorded")
    finally:
        scrape.urllib.request.urlopen = original


@pytest.mark.parametrize("server", ["python", "go"])
def test_both_servers_parse_alike(server):
    figures = recorded(server)
    assert figures[("requests", "http", "Predict", "OK")] == 3
    assert figures[("requests", "http", "Predict", "NOT_FOUND")] == 1
    for phase in scrape.PHASES:
        assert figures[("phase_count", "http", phase)] == 3
        assert figures[("phase_sum", "http", phase)] > 0


@pytest.mark.parametrize("server", ["python", "go"])
def test_difference_of_two_scrapes(server):
    after = recorded(server)
    before = {key: (0.0 if key[0] != "phase_sum" else value / 3) for key, value in after.items()}
    answered, phases = scrape.phases_per_request(before, after, "http")
    assert answered == 3
    for phase in scrape.PHASES:
        assert phases[phase] == pytest.approx(after[("phase_sum", "http", phase)] * (2 / 3) / 3 * 1e6)


def test_the_servers_own_cpu_and_memory():
    """process_cpu_seconds_total and process_resident_memory_bytes: what a --target is measured by."""
    text = (
        "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.5\n"
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1.048576e+08\n"
    )
    after, before = recorded("go", text), recorded("go", text.replace("12.5", "10.25"))
    assert scrape.cpu_between(before, after) == pytest.approx(2.25)
    assert scrape.rss_mb(after) == pytest.approx(100.0)
    assert scrape.cpu_between(None, after) is None and scrape.rss_mb({}) is None


def test_no_metrics_no_figures():
    assert scrape.scrape(None) is None
    assert scrape.phases_per_request(None, {}, "http") == (None, None)
    assert scrape.scrape("127.0.0.1:1") is None  # nobody listening
