"""One module per question; each returns a frozen :class:`~fullfunnel.result.Result`."""
