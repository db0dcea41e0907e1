-- warden.lib.pointer: RFC 6901 JSON pointers over arguments as policies see
-- them (JSON arrays are Lua sequences, so "/list/0" is list[1]).
local gmatch, gsub, sub, match = string.gmatch, string.gsub, string.sub, string.match
local type, tonumber, error = type, tonumber, error

local pointer = {}

-- get(doc, ptr): the value ptr names in doc, or nil when there is none.
function pointer.get(doc, ptr)
  if type(ptr) ~= "string" then
    error("pointer.get(doc, pointer) expects a string pointer", 2)
  end
  if ptr == "" then
    return doc
  end
  if sub(ptr, 1, 1) ~= "/" then
    return nil
  end
  local v = doc
  for tok in gmatch(sub(ptr, 2) .. "/", "([^/]*)/") do
    if type(v) ~= "table" then
      return nil
    end
    tok = (gsub((gsub(tok, "~1", "/")), "~0", "~"))
    local x = v[tok]
    if x == nil and (match(tok, "^0$") or match(tok, "^[1-9]%d*$")) then
      x = v[tonumber(tok) + 1]
    end
    v = x
  end
  return v
end

return pointer
