"""Socket.io for the widget (namespace `/widget`, widget/PROTOCOL.md), fanned out across edges through Redis."""
