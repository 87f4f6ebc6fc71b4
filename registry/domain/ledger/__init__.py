"""The ledger: who did what, kept so it can be trusted.

- `audit`: the append-only, hash-chained audit log (`record`, `list_events`,
  `verify_chain`, `verify_events`, `read_export`), written in the transaction it records;
- `tokens`: API tokens stored hashed, with scopes (`create_token`, `authenticate`,
  `require_scope`, `revoke_token`, `list_tokens`);
- `cursors`: opaque keyset cursors for paged lists.
"""
