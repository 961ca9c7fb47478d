"""The survivor journey: eligibility, on-device fingerprinting, the receipt, and the case status.

Pages here never receive media. The browser fingerprints files itself and sends JSON; the
views parse it (`wire`), authorise through one accessor (`access`), call one hashbank service
and render.
"""
