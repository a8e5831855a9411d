"""IGZO-like oxide-semiconductor write transistor: gaincell's own model card (an approximation).

No licensed IGZO model exists for ngspice, so the card is a behavioral three-terminal subcircuit
(`igzo_tft d g s`, no body: oxide TFTs sit in the back end, on insulator). Its channel current is a
smooth EKV-style interpolation that is exponential below threshold and square-law above, plus a
thermally activated off-current floor:

    U_T    = k T / q                                    (thermal voltage, V)
    n      = SS / (U_T ln 10)                           (slope factor from the swing SS, V/dec)
    I_spec = 2 n mu C_ox (W / L) U_T^2                  (specific current, A)
    I_ch   = I_spec [F((V_gs - V_th) / (2 n U_T)) - F((V_gd - V_th) / (2 n U_T))],
             F(x) = ln(1 + e^x)^2
    I_off  = i_off(27 C) W exp(E_a / k (1/300.15 K - 1/T)) tanh(V_ds / (2 U_T))
    I_d    = I_ch + I_off

Gate capacitance: C_ox W L, split half to the source and half to the drain (no overlap term).

Where the default numbers come from (typical published figures, not one specific device; the card
is an approximation meant to show the retention/write trade-off, replace them with your data):
- mobility_cm2_per_vs = 10: amorphous IGZO TFTs show field-effect mobilities of about 5-15
  cm^2/(V s) (first report about 6-9 cm^2/(V s), Nomura et al., Nature 432, 488 (2004)).
- i_off_a_per_um = 1e-19 at 27 C: oxide-semiconductor (CAAC-IGZO) FETs have off-currents reported
  from about 1e-19 down to below 1e-21 A/um, measured through capacitor retention because they are
  below any ammeter's floor; the default is the leaky end of that range.
- ea_off_ev = 0.6: thermal activation of the off-current. An assumption of this card, chosen so
  that 85 C leaks about 40x more than 27 C; set it from your own retention-vs-temperature data.
- vth_v = 0.8, ss_v_per_dec = 0.1: enhancement-mode IGZO FETs with thresholds of a few hundred mV
  to about 1 V and near-ideal swings of 0.08-0.3 V/dec are reported; 0.8 V keeps the channel's
  subthreshold current below the off-current floor at a 0 V hold bias.
- tox_nm = 10, eps_r_ox = 3.9: a 10 nm SiO2-equivalent gate insulator (C_ox = 3.45 fF/um^2).
- w_um = l_um = 0.5: a small back-end device; gives about 0.43 fF gate-to-storage coupling.
Not modelled: mobility and threshold temperature coefficients, bias-stress drift, contact
resistance, noise. Mobility, swing and threshold are constant over temperature.
"""

from __future__ import annotations

from dataclasses import dataclass

from circuits.validation import in_range

#: Name of the subcircuit the card defines.
IGZO_SUBCKT = "igzo_tft"


@dataclass(frozen=True)
class IgzoConfig:
    """Parameters of the IGZO-like write transistor (see the module docstring for their origin).

    Attributes:
        w_um: channel width, micrometres.
        l_um: channel length, micrometres.
        mobility_cm2_per_vs: field-effect mobility, cm^2/(V s).
        tox_nm: SiO2-equivalent gate-insulator thickness, nanometres.
        eps_r_ox: relative permittivity used with tox_nm (3.9 = SiO2).
        vth_v: threshold voltage, volts.
        ss_v_per_dec: subthreshold swing, volts per decade of current.
        i_off_a_per_um: off-current floor at 27 C per micrometre of width, A/um.
        ea_off_ev: activation energy of the off-current floor, eV.
    """

    w_um: float = 0.5
    l_um: float = 0.5
    mobility_cm2_per_vs: float = 10.0
    tox_nm: float = 10.0
    eps_r_ox: float = 3.9
    vth_v: float = 0.8
    ss_v_per_dec: float = 0.1
    i_off_a_per_um: float = 1e-19
    ea_off_ev: float = 0.6

    def __post_init__(self) -> None:
        in_range("igzo.w_um", self.w_um, 0.05, 100.0)
        in_range("igzo.l_um", self.l_um, 0.05, 100.0)
        in_range("igzo.mobility_cm2_per_vs", self.mobility_cm2_per_vs, 0.1, 100.0)
        in_range("igzo.tox_nm", self.tox_nm, 1.0, 200.0)
        in_range("igzo.eps_r_ox", self.eps_r_ox, 1.0, 50.0)
        in_range("igzo.vth_v", self.vth_v, -1.0, 3.0)
        in_range("igzo.ss_v_per_dec", self.ss_v_per_dec, 0.06, 1.0)
        in_range("igzo.i_off_a_per_um", self.i_off_a_per_um, 1e-26, 1e-9)
        in_range("igzo.ea_off_ev", self.ea_off_ev, 0.0, 2.0)

    @property
    def c_ox_f_per_m2(self) -> float:
        """Gate-insulator capacitance per area, F/m^2."""
        return 8.8541878128e-12 * self.eps_r_ox / (self.tox_nm * 1e-9)

    @property
    def c_gate_f(self) -> float:
        """Total gate capacitance C_ox W L, farads."""
        return self.c_ox_f_per_m2 * self.w_um * self.l_um * 1e-12


def igzo_subckt(cfg: IgzoConfig | None = None) -> str:
    """SPICE text of the `igzo_tft d g s` subcircuit, with `cfg` as its parameter defaults.

    Instances may override any parameter (`xw d g s igzo_tft temp_c=85 i_off_a_per_um=1e-21`).
    `temp_c` (device temperature, C) must be passed by the instance to follow `.temp`.
    """
    c = cfg or IgzoConfig()
    return f"""* IGZO-like oxide-semiconductor TFT: behavioral model card of gaincell (an approximation).
* Origin of every default: circuits/igzo.py (module docstring). Terminals: drain gate source.
.subckt {IGZO_SUBCKT} d g s params: w_um={c.w_um:g} l_um={c.l_um:g}
+ mobility_cm2_per_vs={c.mobility_cm2_per_vs:g} tox_nm={c.tox_nm:g} eps_r_ox={c.eps_r_ox:g}
+ vth_v={c.vth_v:g} ss_v_per_dec={c.ss_v_per_dec:g} i_off_a_per_um={c.i_off_a_per_um:g}
+ ea_off_ev={c.ea_off_ev:g} temp_c=27
.param ut = {{8.617333e-5*(temp_c+273.15)}}
.param nslope = {{ss_v_per_dec/(ut*2.302585093)}}
.param cox = {{8.8541878128e-12*eps_r_ox/(tox_nm*1e-9)}}
.param ispec = {{2*nslope*mobility_cm2_per_vs*1e-4*cox*(w_um/l_um)*ut*ut}}
.param ioff = {{i_off_a_per_um*w_um*exp(ea_off_ev/8.617333e-5*(1/300.15-1/(temp_c+273.15)))}}
.param cg_half = {{0.5*cox*w_um*l_um*1e-12}}
.param vden = {{2*nslope*ut}}
bch d s i = {{ispec}}*(pow(ln(1+exp((v(g,s)-{{vth_v}})/{{vden}})),2)-pow(ln(1+exp((v(g,d)-{{vth_v}})/{{vden}})),2))
+ + {{ioff}}*tanh(v(d,s)/{{2*ut}})
cgs g s {{cg_half}}
cgd g d {{cg_half}}
.ends {IGZO_SUBCKT}
"""
