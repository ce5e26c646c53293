"""Alerts and the weekly digest, sent through Apprise to email and chat.

:mod:`~fullfunnel.notify.rules` reads the ``[alerts]`` rules against the analyses;
:mod:`~fullfunnel.notify.alerts` keeps which fire and sends what is new;
:mod:`~fullfunnel.notify.digest` composes the week; :mod:`~fullfunnel.notify.send`
sends once per event and target; :mod:`~fullfunnel.notify.schedule` runs both from
``fullfunnel serve``.
"""
