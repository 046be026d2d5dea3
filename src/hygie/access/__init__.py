"""Who may do what: SMART scopes and the shared-record access policy, enforced by the Repository."""
