"""The test and demo fleet: what stands in for model servers and users, never part of the proxy.

* :mod:`fleet.sim` -- simulated SGLang workers, a fake external provider and a simulated judge.
* :mod:`fleet.demo` -- ``tierroute demo``: a local stack and mixed traffic, then a report.
* :mod:`fleet.up` -- ``tierroute up``: the same stack left running for your own client.

The proxy (:mod:`router`) never imports this package; the fleet uses the proxy's own modules
(:mod:`router.procs` for child processes, :mod:`router.learning.judging` for the judge's verdicts).
"""
