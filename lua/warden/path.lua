-- warden.lib.path: POSIX path normalization and containment checks for paths
-- an agent controls. Paths are compared as text after normalization; symbolic
-- links are the server's business and are not resolved.
local find, gmatch, sub = string.find, string.gmatch, string.sub
local concat = table.concat
local type = type

local path = {}

-- normalize(p): collapses "//" and ".", resolves "..". Returns nil and why
-- when p is not a non-empty string, holds a NUL or a backslash (another
-- system's separator), starts with "~" (a server may expand it), or when ".."
-- climbs above the start of the path.
function path.normalize(p)
  if type(p) ~= "string" or p == "" then
    return nil, "not a path"
  end
  if find(p, "[\0\\]") then
    return nil, "NUL or backslash in path"
  end
  if sub(p, 1, 1) == "~" then
    return nil, "home-relative path"
  end
  local parts = {}
  for seg in gmatch(p, "[^/]+") do
    if seg == ".." then
      if #parts == 0 then
        return nil, "path escapes its root"
      end
      parts[#parts] = nil
    elseif seg ~= "." then
      parts[#parts + 1] = seg
    end
  end
  local s = concat(parts, "/")
  if sub(p, 1, 1) == "/" then
    return "/" .. s
  end
  return s == "" and "." or s
end

-- under(root, p): true when p names root or something inside it once both
-- are normalized; a relative p is taken from root. Returns false and why
-- otherwise.
function path.under(root, p)
  local r, why = path.normalize(root)
  if not r then
    return false, why
  end
  if type(p) == "string" and p ~= "" and sub(p, 1, 1) ~= "/" and sub(p, 1, 1) ~= "~" then
    p = r .. "/" .. p
  end
  local n
  n, why = path.normalize(p)
  if not n then
    return false, why
  end
  if n == r then
    return true
  end
  local prefix = r == "/" and "/" or r .. "/"
  if sub(n, 1, #prefix) == prefix then
    return true
  end
  return false, "outside " .. r
end

return path
