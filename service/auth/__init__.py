"""Authentication and authorisation: client credentials, bearer tokens, scopes."""
