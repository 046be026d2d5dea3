"""Identities and login: accounts, the OpenID Connect / SMART on FHIR provider, two factors,
federation (Pro Santé Connect style), and the verification of bearer tokens into a Context.

The core (fhir/, search/, store/) never imports this package; `rest.app.create_app` installs it
(`install.install_auth`) unless the server is explicitly open.
"""
