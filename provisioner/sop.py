"""The SOP "Layanan Konsultasi Aplikasi" (067/29/SOP/DKISP/2022) as data: its 11 steps.

This is the one place the steps, actors, inputs, standard times and outputs are written down, in
Indonesian and English (../shared/sop/README.md is the reading they come from).
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.bilingual import Said


def T(id: str, en: str) -> Said:
    """A step's text, Indonesian first as the SOP is written."""
    return Said(en=en, id=id)


@dataclass(frozen=True)
class Step:
    number: int
    name: Said
    actor: Said
    inputs: Said
    output: Said
    minutes: int = 0  # standard time in wall-clock minutes, or
    days: int = 0  # in working days (Monday to Friday less holidays, WITA: provisioner/working_calendar.py)

    def standard(self, lang: str = "id") -> str:
        if self.days:
            return f"{self.days} hari kerja" if lang == "id" else f"{self.days} working days"
        return f"{self.minutes} menit" if lang == "id" else f"{self.minutes} min"


STEPS: tuple[Step, ...] = (
    Step(1, T("Surat permohonan penyediaan aplikasi dari OPD", "Request letter from the OPD"),
         T("OPD", "OPD"), T("Surat permohonan", "Request letter"), T("Surat", "Letter"), minutes=2),
    Step(2, T("Scanning surat, mengagendakan surat, melengkapi lembar disposisi",
              "Scan, register in the agenda, attach the disposition sheet"),
         T("Bagian Umum", "General affairs"), T("Surat, buku agenda, lembar disposisi",
                                                 "Letter, agenda book, disposition sheet"),
         T("Dokumen elektronik, surat dan lembar disposisi", "Electronic document, letter with disposition sheet"),
         minutes=3),
    Step(3, T("Disposisi Kepala DKISP ke Bidang Aplikasi Informatika",
              "Head of DKISP's disposition to the Applications division"),
         T("Kepala DKISP", "Head of DKISP"), T("Surat, lembar disposisi", "Letter, disposition sheet"),
         T("Permohonan terdisposisi", "Dispositioned request"), minutes=2),
    Step(4, T("Kabid Aplikasi melakukan pengkajian bersama Sub Koordinator",
              "Head of division reviews with the sub-coordinator"),
         T("Bidang Aplikasi", "Applications division"),
         T("Permohonan terdisposisi, website yang disiapkan", "Dispositioned request, prepared website"),
         T("Data untuk tindak lanjut", "Data for follow-up"), minutes=25),
    Step(5, T("Pengadaan aplikasi disetujui / dapat dilaksanakan atau tidak",
              "Decision: approved / feasible or not"),
         T("Bidang Aplikasi", "Applications division"), T("Data untuk tindak lanjut", "Data for follow-up"),
         T("Data untuk tindak lanjut", "Data for follow-up"), minutes=30),
    Step(6, T("Pembelian aplikasi oleh OPD melalui vendor", "Purchase by the OPD through a vendor"),
         T("OPD", "OPD"), T("Data tindak lanjut, data kebutuhan informasi",
                            "Data for follow-up, information-needs data"),
         T("Data untuk tindak lanjut", "Data for follow-up"), minutes=15),
    Step(7, T("Analisa kebutuhan informasi", "Information-needs analysis"),
         T("Bidang Aplikasi", "Applications division"),
         T("Data tindak lanjut, data kebutuhan informasi", "Data for follow-up, information-needs data"),
         T("Data untuk tindak lanjut", "Data for follow-up"), days=3),
    Step(8, T("Penyusunan KAK pengadaan aplikasi", "Writing the KAK (terms of reference) for procurement"),
         T("Bidang Aplikasi", "Applications division"),
         T("Data tindak lanjut, data kebutuhan aplikasi, KAK", "Follow-up data, application-needs data, KAK"),
         T("KAK", "KAK"), days=7),
    Step(9, T("Instalasi dan ujicoba", "Installation and trial"),
         T("Bidang Aplikasi", "Applications division"),
         T("KAK, manual, dokumentasi aplikasi", "KAK, manual, application documentation"),
         T("Aplikasi, laporan dan dokumentasi", "Application, report and documentation"), minutes=90),
    Step(10, T("Melaporkan pelaksanaan penyediaan aplikasi", "Report on the provision"),
         T("Bidang Aplikasi", "Applications division"), T("Laporan dan dokumentasi", "Report and documentation"),
         T("Laporan dan dokumentasi", "Report and documentation"), minutes=2),
    Step(11, T("Pekerjaan selesai", "Work complete"),
         T("Bidang Aplikasi", "Applications division"), T("Laporan dan dokumentasi", "Report and documentation"),
         T("Laporan dan dokumentasi", "Report and documentation"), minutes=2),
)
BY_NUMBER = {step.number: step for step in STEPS}
INSTALL_STEP = 9
REPORT_STEP = 10
DONE_STEP = 11
VENDOR_STEP = 6  # only for applications bought from a vendor


def step(number: int) -> Step:
    return BY_NUMBER[number]


def depends_on(number: int, source_kind: str) -> int | None:
    """The step that must be done before ``number``; step 6 is skipped for in-house applications."""
    if number == 1:
        return None
    previous = number - 1
    if previous == VENDOR_STEP and source_kind != "vendor":
        previous -= 1
    return previous


def applies(number: int, source_kind: str) -> bool:
    return not (number == VENDOR_STEP and source_kind != "vendor")
