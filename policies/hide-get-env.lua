-- server-everything's get-env tool returns the server's whole environment
-- (tokens included): agents neither see it listed nor get to call it.
local glob = warden.lib.glob
local HIDDEN = { "get-env", "get_env", "*printEnv*" }

return {
  on_call = function(call)
    if glob.any(HIDDEN, call.tool) then
      return warden.deny("this tool is not available through warden")
    end
  end,

  on_list = function(tools)
    local keep = {}
    for _, tool in ipairs(tools) do
      if not glob.any(HIDDEN, tool.name) then
        keep[#keep + 1] = tool
      end
    end
    return keep
  end,
}
