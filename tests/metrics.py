"""Reading /metrics in tests: a sample's value by name and labels, parsed the way Prometheus
parses it (so a malformed exposition fails the test)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from apps.core.metrics import snapshot_take


def scrape(client, settings) -> str:
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]  # the test client's address
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    return response.content.decode()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    """The sample's value; 0 for a labelled child not created yet (a counter never counted)."""
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def names(text: str) -> set[str]:
    return {name for name, _ in samples(text)}


class Metrics:
    """Scrapes before and after an action: counters are per process and outlive a test, so
    tests assert on what the action added."""

    def __init__(self, client, settings) -> None:
        self.client, self.settings = client, settings
        self.before = scrape(client, settings)

    def now(self, *, snapshot: bool = False) -> str:
        if snapshot:
            snapshot_take()
        return scrape(self.client, self.settings)

    def added(self, name: str, **labels: str) -> float:
        return value(self.now(), name, **labels) - value(self.before, name, **labels)
