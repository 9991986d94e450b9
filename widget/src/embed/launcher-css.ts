// The launcher's CSS. `:host { all: initial !important }` cuts every inherited and host-page style at
// the shadow boundary (inner !important beats outer rules for the host element).
import { type Corner, type Theme, onColor } from "../theme";

export function launcherCss(theme: Theme, corner: Corner): string {
  return `
:host{all:initial!important;position:fixed!important;${corner.vertical}:${corner.y}px!important;${corner.horizontal}:${corner.x}px!important;z-index:2147483000!important;display:block!important;width:auto!important;height:auto!important;margin:0!important;padding:0!important;border:0!important;background:none!important;visibility:visible!important;opacity:1!important;transform:none!important}
*,*::before,*::after{box-sizing:border-box}
.ac-root{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:${theme.text};-webkit-font-smoothing:antialiased;text-align:left;letter-spacing:normal;text-transform:none}
.ac-launcher{all:unset;box-sizing:border-box;display:flex;align-items:center;justify-content:center;gap:8px;min-width:56px;height:56px;padding:0 14px;border-radius:28px;cursor:pointer;background:${theme.primary};color:${onColor(theme.primary)};box-shadow:0 6px 20px rgba(0,0,0,.25);font:600 15px/1 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;transition:transform .15s ease}
.ac-launcher:hover{transform:scale(1.05)}
.ac-launcher:focus-visible{outline:3px solid ${theme.primary};outline-offset:3px}
.ac-launcher img{width:44px;height:44px;border-radius:50%;object-fit:cover;margin:0 -8px}
.ac-launcher svg{width:26px;height:26px;fill:currentColor}
.ac-launcher.ac-tab{border-radius:10px 10px 0 0;height:40px}
.ac-launcher[hidden],.ac-root[data-open] .ac-launcher{display:none}
@media (prefers-reduced-motion:reduce){.ac-launcher{transition:none}}
`;
}
