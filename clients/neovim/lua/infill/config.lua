--- Options of the Infill plugin: defaults, validation and merging.

local M = {}

---@class infill.Keymaps
---@field accept string|false Accept the whole suggestion (default "<Tab>").
---@field accept_word string|false Accept the next word (default "<M-Right>").
---@field accept_line string|false Accept the next line (default "<M-Down>").
---@field dismiss string|false Hide the suggestion (default "<C-]>").

---@class infill.Options
---@field cmd string[] Server command line (default { "infill-lsp" }).
---@field filetypes string[]|nil Filetypes to attach to; nil attaches to every normal file buffer.
---@field root_markers string[] Files that mark the workspace root (default { ".git" }).
---@field settings table Server settings (camelCase, as in the server's README), sent at start and on change.
---@field builtin boolean Use Neovim's own `vim.lsp.inline_completion` when it exists (0.12+); default true.
---@field debounce_ms integer Quiet time before a request on Neovim 0.11 (default 75).
---@field streaming boolean Show the suggestion while it is generated on Neovim 0.11 (default true).
---@field keymaps infill.Keymaps Insert-mode keys; false disables one.

---@type infill.Options
M.defaults = {
  cmd = { "infill-lsp" },
  filetypes = nil,
  root_markers = { ".git" },
  settings = {},
  builtin = true,
  debounce_ms = 75,
  streaming = true,
  keymaps = { accept = "<Tab>", accept_word = "<M-Right>", accept_line = "<M-Down>", dismiss = "<C-]>" },
}

local function is_key(value)
  return value == false or type(value) == "string"
end

--- Merge user options over the defaults; raise a clear error for a bad one.
---@param user table|nil
---@return infill.Options
function M.resolve(user)
  user = user or {}
  vim.validate("options", user, "table")
  local options = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), user)
  if user.filetypes == nil then
    options.filetypes = nil
  end
  vim.validate("cmd", options.cmd, function(v)
    return type(v) == "table" and #v > 0 and vim.iter(v):all(function(part) return type(part) == "string" end)
  end, "a non-empty list of strings")
  vim.validate("filetypes", options.filetypes, "table", true)
  vim.validate("root_markers", options.root_markers, "table")
  vim.validate("settings", options.settings, "table")
  vim.validate("builtin", options.builtin, "boolean")
  vim.validate("debounce_ms", options.debounce_ms, function(v)
    return type(v) == "number" and v >= 0 and v == math.floor(v)
  end, "a whole number of milliseconds >= 0")
  vim.validate("streaming", options.streaming, "boolean")
  vim.validate("keymaps", options.keymaps, "table")
  for name, value in pairs(options.keymaps) do
    if M.defaults.keymaps[name] == nil then
      error(("infill: unknown keymap '%s'"):format(name), 0)
    end
    vim.validate("keymaps." .. name, value, is_key, "a key string or false")
  end
  for name in pairs(user) do
    if M.defaults[name] == nil and name ~= "filetypes" then
      error(("infill: unknown option '%s'"):format(name), 0)
    end
  end
  return options
end

return M
