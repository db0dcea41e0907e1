-- warden.lib.glob: shell-style matching of tool names and paths.
-- "*" matches any run of characters except "/", "**" any run including "/",
-- "?" one character except "/", "\x" the character x; everything else itself.
-- Matching runs in Lua, position set by position (O(#glob * #s)), so the
-- instruction budget bounds it: Lua patterns built from globs would backtrack
-- inside C where no hook can stop them.
local byte, find = string.byte, string.find
local type, error, ipairs = type, error, ipairs

local SLASH, STAR, QUESTION, BACKSLASH = 47, 42, 63, 92

local glob = {}

-- match(g, s): true when the whole of s matches the glob g.
function glob.match(g, s)
  if type(g) ~= "string" or type(s) ~= "string" then
    error("glob.match(glob, string) expects two strings", 2)
  end
  if not find(g, "[*?\\]") then
    return g == s -- most globs name one tool
  end
  local n, m = #s, #g
  local cur = { [0] = true } -- cur[k]: the glob so far matches s[1..k]
  local i = 1
  while i <= m do
    local c = byte(g, i)
    local new = {}
    if c == STAR then
      local deep = byte(g, i + 1) == STAR
      i = i + (deep and 2 or 1)
      local run = false
      for k = 0, n do
        run = cur[k] or (run and (deep or byte(s, k) ~= SLASH))
        new[k] = run
      end
    elseif c == QUESTION then
      i = i + 1
      for k = 1, n do
        new[k] = cur[k - 1] and byte(s, k) ~= SLASH
      end
    else
      if c == BACKSLASH and i < m then
        c = byte(g, i + 1)
        i = i + 2
      else
        i = i + 1
      end
      for k = 1, n do
        new[k] = cur[k - 1] and byte(s, k) == c
      end
    end
    cur = new
  end
  return cur[n] == true
end

-- any(globs, s): true when s matches one of the globs of an array.
function glob.any(globs, s)
  for _, g in ipairs(globs) do
    if glob.match(g, s) then
      return true
    end
  end
  return false
end

return glob
