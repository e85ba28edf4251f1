"""The inbox's chat commands (``/inbox``, ``/assign N``, ``/resolve N``, ``/staffchat``) and
staff replies to notifications; importing :mod:`bot.commands.staff` registers them with the
chat-command framework (:mod:`bot.core.commands`). The composition root imports it, and hands
:func:`bot.commands.staff.reply_to_notification` to the :class:`~bot.core.commands.Desk`.
"""
