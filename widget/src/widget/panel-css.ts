// The chat panel's CSS; lives in the same shadow root as the launcher.
import { type Corner, type Theme, onColor } from "../theme";

export function panelCss(theme: Theme, corner: Corner): string {
  const on = onColor(theme.primary);
  return `
.ac-panel{position:absolute;${corner.vertical}:0;${corner.horizontal}:0;width:380px;height:min(640px,calc(100vh - ${corner.y * 2}px));display:none;flex-direction:column;background:${theme.background};color:${theme.text};border-radius:16px;box-shadow:0 12px 40px rgba(0,0,0,.28);overflow:hidden}
.ac-root[data-open] .ac-panel{display:flex}
.ac-header{display:flex;align-items:center;gap:10px;padding:10px 12px;background:${theme.primary};color:${on}}
.ac-title{flex:1;margin:0;font-size:16px;font-weight:600;line-height:1.2;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.ac-status{font-size:12px;opacity:.85;font-weight:400}
.ac-icon-btn{all:unset;box-sizing:border-box;display:inline-flex;align-items:center;justify-content:center;width:32px;height:32px;border-radius:8px;cursor:pointer;color:inherit;font-size:18px;line-height:1}
.ac-icon-btn:hover{background:rgba(255,255,255,.18)}
.ac-icon-btn:focus-visible,.ac-send:focus-visible,.ac-input:focus-visible,.ac-panel a:focus-visible{outline:3px solid ${theme.primary};outline-offset:2px}
.ac-header .ac-icon-btn:focus-visible{outline-color:${on}}
.ac-stage{position:relative;height:220px;flex:none;background:linear-gradient(180deg,${theme.primary}22,${theme.background})}
.ac-stage canvas{display:block;width:100%!important;height:100%!important;outline:none}
.ac-2d{display:flex;align-items:center;justify-content:center;height:100%}
.ac-2d-face{width:120px;height:120px;border-radius:50%;display:flex;align-items:center;justify-content:center;background:${theme.primary};color:${on};font-size:44px;font-weight:700;overflow:hidden;transition:transform .2s ease}
.ac-2d-face img{width:100%;height:100%;object-fit:cover}
.ac-2d[data-talking] .ac-2d-face{animation:ac-talk .35s ease-in-out infinite alternate}
@keyframes ac-talk{from{transform:scale(1)}to{transform:scale(1.05)}}
.ac-notice{margin:8px 12px 0;padding:8px 10px;border-radius:8px;background:#fef3c7;color:#78350f;font-size:13px}
.ac-notice:empty{display:none}
.ac-log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:10px;overscroll-behavior:contain}
.ac-msg{max-width:85%;padding:8px 12px;border-radius:14px;word-wrap:break-word;overflow-wrap:anywhere}
.ac-msg p{margin:0 0 6px}.ac-msg p:last-child{margin-bottom:0}
.ac-msg ul,.ac-msg ol{margin:4px 0;padding-left:20px}
.ac-msg code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;background:rgba(0,0,0,.07);padding:1px 4px;border-radius:4px}
.ac-msg a{color:inherit;text-decoration:underline}
.ac-msg-assistant{align-self:flex-start;background:rgba(127,127,127,.12)}
.ac-msg-visitor{align-self:flex-end;background:${theme.primary};color:${on};white-space:pre-wrap}
.ac-msg-system{align-self:center;font-size:12px;opacity:.75;background:none}
.ac-msg[data-failed]{opacity:.6;border:1px dashed #dc2626}
.ac-cite-ref{font-size:10px;opacity:.75}
.ac-citations{margin:8px 0 0;padding:6px 0 0;border-top:1px solid rgba(127,127,127,.25);list-style:none;font-size:12px}
.ac-citations:empty{display:none}
.ac-citations li{margin:2px 0}
.ac-citations .ac-snippet{display:block;opacity:.7}
.ac-typing{display:none;align-self:flex-start;padding:10px 12px;border-radius:14px;background:rgba(127,127,127,.12)}
.ac-typing[data-on]{display:inline-flex;gap:4px}
.ac-typing span{width:7px;height:7px;border-radius:50%;background:currentColor;opacity:.5;animation:ac-dot 1s infinite}
.ac-typing span:nth-child(2){animation-delay:.15s}.ac-typing span:nth-child(3){animation-delay:.3s}
@keyframes ac-dot{50%{opacity:1;transform:translateY(-3px)}}
.ac-form{display:flex;gap:8px;padding:10px 12px;border-top:1px solid rgba(127,127,127,.2)}
.ac-input{all:unset;box-sizing:border-box;flex:1;min-height:40px;max-height:120px;padding:9px 12px;border:1px solid rgba(127,127,127,.45);border-radius:10px;font:inherit;color:${theme.text};background:${theme.background};white-space:pre-wrap;overflow-y:auto}
.ac-send{all:unset;box-sizing:border-box;display:inline-flex;align-items:center;justify-content:center;width:40px;height:40px;border-radius:10px;cursor:pointer;background:${theme.primary};color:${on}}
.ac-send svg{width:20px;height:20px;fill:currentColor}
.ac-sr{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:480px){.ac-panel{position:fixed;inset:0;width:100%;height:100%;border-radius:0}.ac-stage{height:34vh}}
@media (prefers-reduced-motion:reduce){.ac-typing span,.ac-2d[data-talking] .ac-2d-face{animation:none}}
`;
}
