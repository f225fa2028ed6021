-- Loads the plugin from a git clone the way a plugin manager does, with the spec from
-- clients/neovim/README.md (run with -S, see tests/test_neovim.py), then opens a file.
-- Env: INFILL_MANAGER ("lazy.nvim" or "packer"), INFILL_SPEC (a Lua file: the README's spec),
-- INFILL_CLONE (the clone), INFILL_FILE, INFILL_OUT (JSON results are written there).
local env = vim.env
local out, finish = dofile(vim.fs.dirname(debug.getinfo(1, "S").source:sub(2)) .. "/results.lua")

vim.cmd("filetype on")
local function install()
  local spec
  if env.INFILL_MANAGER == "packer" then
    _G.use = function(given) spec = given end
    dofile(env.INFILL_SPEC)
    -- packer puts the clone's `rtp` folder on the runtime path; Neovim's startup sources its plugin/.
    vim.opt.rtp:append(env.INFILL_CLONE .. "/" .. spec.rtp)
    vim.cmd("runtime! plugin/**/*.lua")
    spec.config()
  else
    spec = dofile(env.INFILL_SPEC)
    -- lazy.nvim puts the clone itself on the runtime path, sources its plugin/ files, then calls config.
    vim.opt.rtp:append(env.INFILL_CLONE)
    vim.cmd("runtime! plugin/**/*.lua")
    spec.config({ dir = env.INFILL_CLONE, name = "infill" }, spec.opts or {})
  end
end
local ok, err = pcall(install)
if not ok then
  finish("install: " .. tostring(err))
  return
end
out.command = vim.fn.exists(":Infill") == 2
vim.cmd.edit(env.INFILL_FILE)
local attached = vim.wait(60000, function()
  local client = vim.lsp.get_clients({ bufnr = 0, name = "infill" })[1]
  return client ~= nil and client.initialized
end, 50)
if not attached then
  finish("the server never attached")
  return
end
out.server = vim.lsp.get_clients({ name = "infill" })[1].config.cmd
finish()
