"""aistack as an MCP server: its documents, agents and metrics as tools (stdio and streamable HTTP)."""
