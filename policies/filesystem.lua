-- For the reference server @modelcontextprotocol/server-filesystem: agents
-- may read anywhere the server allows, but write only under WRITABLE, and
-- never move a file out of it. Paths are normalized ("..", "//", ".") before
-- the check, so "/srv/reports/../../etc/passwd" is not under /srv/reports.
local WRITABLE = "/srv/reports"

local writes = {
  write_file = { "path" },
  edit_file = { "path" },
  create_directory = { "path" },
  move_file = { "source", "destination" },
}

return {
  on_call = function(call)
    local fields = writes[call.tool]
    if not fields then
      return nil
    end
    for _, field in ipairs(fields) do
      local path = call.args[field]
      if type(path) ~= "string" or path:sub(1, 1) ~= "/" or not warden.lib.path.under(WRITABLE, path) then
        return warden.deny(call.tool .. ": " .. field .. " must be under " .. WRITABLE)
      end
    end
    return warden.allow()
  end,
}
