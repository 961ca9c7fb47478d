"""The hosted lookup, server side (issue 16): POST /api/v1/lookup asks the lookup process
(hashbank.platform.lookup_service, `manage.py lookup_serve`) over loopback (`client`), or in the
embedded mode an index of the database held in this process (`embedded`); every answered lookup
is counted for the partner's evidence (`tally`), and lookup-only keys are issued by `services`.
"""
