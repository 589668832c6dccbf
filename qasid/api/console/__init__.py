"""The admin console: server-rendered pages over the government layer, at /_qasid/admin/."""
