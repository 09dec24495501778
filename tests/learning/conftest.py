"""The loopback cluster of the integration tests (sim workers, fake provider), shared here."""

from tests.integration.conftest import cluster, make_proxy, proxy  # noqa: F401 - fixtures
from tests.learning.support import judge_server, sim_judge  # noqa: F401, E402 - fixtures
