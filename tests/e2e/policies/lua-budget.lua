-- A hostile policy: every way of looping that once escaped the budget.
-- Each tool named below loops for good; any other tool is allowed.
local function L() while true do end end
local looper = setmetatable({}, {__tostring = L, __index = L, __close = L})
local evil = {
  xpcall_both = function() xpcall(L, L) end,
  handler_errors = function() xpcall(L, function(e) error(e) end) end,
  nested = function() xpcall(function() pcall(function() xpcall(L, L) end) end, L) end,
  close_in_xpcall = function() xpcall(function() local x <close> = looper L() end, L) end,
  gsub = function() return ('aaa'):gsub('a', L) end,
}
return {
  on_call = function(call)
    local f = evil[call.tool]
    if f then f() end
    return warden.allow('fine')
  end,
}
