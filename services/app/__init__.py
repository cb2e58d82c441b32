"""todo-app: the backend (`app.main:app`) and the MCP task server (`app.mcp_server:app`)."""
